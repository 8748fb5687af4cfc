"""AppTest: renders repeat across sessions without model work (ui/renders.py, ui/state.py).

Two separate sessions (two AppTests in one process share Streamlit's caches, as browser
sessions on one server do) asking for the same picture cost one decoder call; a new input
costs one more. Counted by wrapping the library functions the renders call.
"""
from __future__ import annotations

import pytest
from app_helpers import image_urls, open_app

from ui import fig_latent_map, renders, state
from vae import explore


@pytest.fixture
def counted(monkeypatch):
    """Counts calls of the library functions behind the renders; clears the render caches first."""
    calls: dict[str, int] = {}

    def wrap(module, name):
        real = getattr(module, name)

        def counting(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, counting)

    for name in ("sample_prior", "manifold", "encode_images"):
        wrap(explore, name)
    wrap(fig_latent_map, "map_spec")
    for fn in (renders.samples, renders.manifold, renders.morph, state.map_spec):
        fn.clear()
    return calls


def test_same_samples_in_two_sessions_decode_once(counted):
    first = open_app("mnist-2d", "pages/generate.py")
    second = open_app("mnist-2d", "pages/generate.py")
    assert counted.get("sample_prior") == 1
    assert image_urls(first) == image_urls(second)  # the same bytes: the same media file
    second.number_input(key="generate_seed").set_value(7).run()
    assert counted["sample_prior"] == 2
    assert image_urls(second) != image_urls(first)


def test_latent_map_figure_and_manifold_are_built_once_per_model(counted):
    for _ in range(2):
        at = open_app("mnist-2d", "pages/latent_map.py")
        assert not at.exception
    assert counted.get("map_spec") == 1
    assert counted.get("manifold") == 1
    at.slider(key="latent_map_grid").set_value(12).run()
    assert counted["manifold"] == 2
    assert counted["map_spec"] == 1  # the new grid does not rebuild the map


def test_morph_encodes_once_for_the_same_endpoints(counted):
    open_app("mnist-2d", "pages/morph.py")
    open_app("mnist-2d", "pages/morph.py")
    assert counted.get("encode_images") == 1
