"""Text for the browser never carries server paths: :func:`redact_paths` shortens them.

Library messages name folders in full, which a command-line user needs; a classroom's browser
must not learn the server's layout (home folder, user name, where data lives)."""
from __future__ import annotations

import re

# An absolute POSIX path (two or more components) or a Windows drive path, up to whitespace,
# quotes or closing brackets.
_PATH = re.compile(r"(?<![\w.~/])(?:[A-Za-z]:\\|/)(?:[^\s'\"()\[\]{}<>,;]+[/\\])+[^\s'\"()\[\]{}<>,;]*")


def _short(match: re.Match[str]) -> str:
    parts = [p for p in re.split(r"[/\\]", match.group(0)) if p]
    return "…/" + "/".join(parts[-2:]) if len(parts) > 2 else "…/" + "/".join(parts)


def redact_paths(text: str) -> str:
    """``text`` with every absolute path cut to its last two components after '…/'."""
    return _PATH.sub(_short, str(text))
