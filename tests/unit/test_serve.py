"""serve.py's lifespan: the asset routes are marked mounted while the server runs, it opens once
the default model is ready, and at shutdown it stops training workers (the ASGI server's exit
skips ``atexit`` handlers, so the job registry's own exit hook would never run)."""
import asyncio
import threading

import serve
from services import assets, jobs
from ui import warm


def test_lifespan_mounts_routes_waits_for_warm_up_and_stops_jobs_at_shutdown(monkeypatch):
    ready = threading.Event()
    ready.set()
    seen: list[str] = []
    monkeypatch.setattr(warm, "start", lambda: seen.append("warm") or ready)
    monkeypatch.setattr(jobs, "close_all", lambda: seen.append("close_all"))

    async def run() -> None:
        async with serve.lifespan(None):
            seen.append(f"mounted={assets.mounted()}")
        seen.append(f"after={assets.mounted()}")

    # In a thread of its own: browser tests (Playwright's sync API) may leave a loop running in this one.
    worker = threading.Thread(target=asyncio.run, args=(run(),))
    worker.start()
    worker.join(30)
    assert seen == ["warm", "mounted=True", "close_all", "after=False"]
