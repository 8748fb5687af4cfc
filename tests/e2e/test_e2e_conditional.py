"""A class-conditional model in a real browser: picking another class redraws the live image
(decoded in the page, with the new class) for the same z: the sliders keep their values.

Uses the shipped ``mnist-cond-2d`` when it is there, else a tiny conditional model saved into
the server's user-models folder (random weights: any two classes still draw different pixels).
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from playwright.sync_api import expect

from harness.browser import open_page, wait_ready
from vae.checkpoint import save
from vae.config import ModelConfig
from vae.models import build_model

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "mnist-cond-2d"
DRAWN = "() => window.__vaeLive && window.__vaeLive.decodeMs.length > 0"
# The live canvas (inside the component's shadow root) as a data URL.
CANVAS_URL = ("() => { const roots = [document, ...[...document.querySelectorAll('*')].filter(e => e.shadowRoot)"
              ".map(e => e.shadowRoot)]; for (const r of roots) { const c = r.querySelector("
              "'[data-testid=\"liveCanvas\"]'); if (c) return c.toDataURL(); } return null; }")
CHANGED = f"before => ({CANVAS_URL})() !== before"


@pytest.fixture(scope="module")
def model_name(user_models_dir) -> str:
    if SHIPPED.is_dir():
        return SHIPPED.name
    cfg = ModelConfig(arch="cmlp", num_classes=10, latent_dim=2, hidden=(32,))
    save(user_models_dir / "e2e-cond", build_model(cfg, generator=torch.Generator().manual_seed(0)), "mnist")
    return "e2e-cond"


def _slider_values(page) -> list[str]:
    return [s.input_value() for s in page.locator('[data-testid="liveSlider"]').all()]


def test_picking_another_class_redraws_the_same_z(page, app_url, model_name):
    open_page(page, app_url, "", f"model={model_name}")
    page.wait_for_function(DRAWN)
    sliders = page.locator('[data-testid="liveSlider"]')
    expect(sliders).to_have_count(2)
    sliders.nth(0).focus()
    for _ in range(8):  # move z0 to 0.40 with the keyboard: each step is an input and a release
        sliders.nth(0).press("ArrowRight")
    page.wait_for_function("() => window.__vaeLive.sent >= 8")
    wait_ready(page)
    values = _slider_values(page)
    assert float(values[0]) == pytest.approx(0.4)
    before = page.evaluate(CANVAS_URL)
    assert before is not None

    pills = page.locator('[data-testid="stButtonGroup"]').first
    pills.get_by_role("radio", name="3", exact=True).click()
    page.wait_for_function(CHANGED, arg=before)  # the image follows the class...
    wait_ready(page)
    assert _slider_values(page) == values  # ...and z stayed where it was
    expect(page.get_by_text("the same z as every class (0 to 9)")).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
