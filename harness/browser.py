"""Browser-test helpers: start/stop ``streamlit run serve.py``, drive Debian's Chromium.

Needs Debian's Chromium at /usr/bin/chromium (``apt-get install -y chromium``) and the
``playwright`` Python package (no ``playwright install``: we drive the system browser).
Also used by bench/app_latency.py.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from vae import settings

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = settings.chromium()
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
HOW_TO = "browser tests need Debian's Chromium and Playwright: apt-get install -y chromium && pip install playwright"
READY = '[data-testid="stApp"][data-test-connection-state="CONNECTED"][data-test-script-state="notRunning"]'
# Classroom mode: a browser's first visit reloads the page once, to send its workspace cookie
# (ui/session.py); the workspace is settled when the cookie is set and no reload is pending.
WORKSPACE_SETTLED = ("() => document.cookie.split('; ').some(c => c.startsWith('vae_workspace='))"
                     " && window.sessionStorage.getItem('vae-latent-lab-workspace-reloaded') === null")
_classroom: dict[str, subprocess.Popen] = {}  # base URL -> process, of servers started in classroom mode


def missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(env_extra: dict[str, str] | None = None, timeout: float = 90.0,
              script: str | Path = "serve.py") -> tuple[subprocess.Popen, str]:
    """Start ``streamlit run serve.py`` (the app with its asset routes; or another ``script``,
    e.g. ``app.py``, relative to the repository root or absolute) on a free port; returns
    (process, base URL) once healthy."""
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    if env.get("VAE_MODE") == "classroom":
        _classroom[url] = proc
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{proc.stdout.read()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("streamlit did not become healthy in time")


def stop_app(proc: subprocess.Popen) -> None:
    for url in [u for u, p in _classroom.items() if p is proc]:
        del _classroom[url]
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_ready(page, timeout: float = 30_000) -> None:
    """Wait until the app is connected and no script run is in progress."""
    page.wait_for_selector(READY, timeout=timeout)


def open_page(page, app_url: str, url_path: str = "", query: str = "") -> None:
    """Open one app page (``url_path`` as in st.Page, e.g. 'latent_map') and wait for it to settle
    (on a classroom server, after the first visit's reload that sends the workspace cookie)."""
    page.goto(f"{app_url}/{url_path}{'?' + query if query else ''}")
    if app_url in _classroom:
        page.wait_for_function(WORKSPACE_SETTLED)
    wait_ready(page)
    page.wait_for_selector('[data-testid="stMainBlockContainer"]')
