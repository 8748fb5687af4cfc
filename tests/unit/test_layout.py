"""The package layers: vae (torch library) <- services (app services) <- ui (Streamlit glue) <- pages.

Each layer imports only the layers below it; the README's architecture section names every module."""
from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True,
                       check=True).stdout.split()

# package -> top-level modules it must never import
FORBIDDEN = {
    "vae": {"streamlit", "plotly", "services", "ui", "harness", "pages"},
    "services": {"streamlit", "plotly", "ui", "harness", "pages"},
    "ui": {"harness", "pages"},
    "pages": {"harness", "pages"},
}


def _imports(path: Path) -> set[str]:
    """Top-level names of every absolute import in the file (including imports inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_import_only_downwards(package):
    bad = {f: sorted(_imports(ROOT / f) & FORBIDDEN[package]) for f in FILES if f.startswith(f"{package}/")}
    assert {f: names for f, names in bad.items() if names} == {}


def test_no_sys_path_edits():
    needle = "sys.path." + "insert"  # spelled apart, so that a grep of the tree finds nothing at all
    assert [f for f in FILES if needle in (ROOT / f).read_text(encoding="utf-8")] == []


def test_readme_architecture_names_every_module():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Architecture"):]
    modules = [f for f in FILES if f.split("/")[0] in ("vae", "services", "ui", "harness", "pages")
               and not f.endswith("__init__.py")]
    missing = [f for f in modules if f"`{f}`" not in section and f"`{Path(f).name}`" not in section]
    assert missing == []


def test_readme_architecture_names_only_real_files():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Architecture"):]
    named = set(re.findall(r"`((?:vae|services|ui|harness|pages|bench|tests)/[\w/.-]+)`", section))
    assert sorted(p for p in named if not (ROOT / p).exists()) == []
