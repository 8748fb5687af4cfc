"""Helpers for Streamlit AppTest tests: open the real app.py on a chosen model and page."""
from __future__ import annotations

import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TIMEOUT = 90


def open_app(model: str = "mnist-2d", page: str | None = None) -> AppTest:
    """Run app.py with ``?model=NAME`` and switch to ``page`` (e.g. 'pages/morph.py')."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["model"] = model
    at.run()
    if page is not None:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def image_urls(at: AppTest) -> list[str]:
    """The media URLs of every image element on the page (they change when the pixels do)."""
    return [img.url for el in at.get("image") for img in el.proto.imgs]


def download_data(at: AppTest, media: dict[str, bytes], label: str) -> bytes:
    """The bytes behind the download button labelled ``label`` (needs the ``media`` fixture)."""
    button = next(b for b in at.get("download_button") if b.label == label)
    file_id = button.proto.url.rsplit("/", 1)[-1].split(".")[0]
    return media[file_id]


def shown(markdown: str) -> str:
    """What a reader sees of Markdown whose punctuation the app backslash-escaped (untrusted
    text such as file names and library messages is escaped that way)."""
    return re.sub(r"\\(.)", r"\1", markdown)
