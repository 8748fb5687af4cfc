"""The Latent map's t-SNE projection (:mod:`vae.tsne`) for models with more than 2 latent
dimensions: the PCA / t-SNE choice, the map (read from its disk cache, else computed once per
model with a progress bar, every session asking at once waiting on the same computation), its
base figure, the marker of a selection, and the note that replaces what needs an inverse map."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui import fig_latent_map as fm
from ui import figures, inputs, state, widgets
from vae import tsne

PROJ_KEY = "latent_map_projection"
PCA, TSNE = "PCA", "t-SNE"
PROJECTIONS = (PCA, TSNE)
SPLIT = "test"  # the split the Latent map encodes (ui/state.py)


def chosen(latent_dim: int) -> bool:
    """The projection radio (only for ``latent_dim`` > 2, where the map is a projection); True
    when t-SNE is chosen. The value is re-checked (ui/inputs.py): anything else means PCA."""
    if latent_dim <= 2:
        return False
    choice = inputs.radio("Projection", PROJECTIONS, key=PROJ_KEY, horizontal=True,
                          help="PCA: a linear plane through the codes, with a way back to z (the pad and the grid "
                               "use it). t-SNE: neighbours kept together, clusters easier to see; no way back.")
    return choice == TSNE


def points(cur: state.Current, enc: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 2) t-SNE coordinates of the encoded test set ``enc`` (posterior means (N, D), ids
    (N,)) of the current model: from memory or disk at once, else computed with a progress bar
    (a first visit, or another session's computation already under way: both wait on the same
    one). Stops the page with an error when the map cannot be computed."""
    path, ids = str(cur.entry.path), enc["ids"]
    try:
        key = tsne.cache_key(path, cur.entry.dataset, SPLIT, ids)
        hit = tsne.lookup(key, path, ids)
    except OSError:
        hit = None  # the weights file vanished under us (a retrain): the catalog catches up next run
    if hit is not None:
        return hit
    note = f"Computing the t-SNE map of {len(ids):,} test images (once per model; others opening it now wait on it too)"
    bar = st.progress(0.0, text=f"{note}…")

    def report(fraction: float) -> None:
        bar.progress(float(min(1.0, max(0.0, fraction))), text=f"{note}: {100 * fraction:.0f}%")

    try:
        out = tsne.cached_embed(enc["mean"], path, cur.entry.dataset, SPLIT, ids, progress=report)
    except (ValueError, OSError) as exc:
        bar.empty()
        st.error(f"The t-SNE map cannot be computed for this model: {widgets.safe_text(exc, 400)}")
        st.stop()
    bar.empty()
    return out


@st.cache_resource(show_spinner=False, max_entries=16)
def _spec(path: str, mtime: float, dataset: str, key: str, _points: np.ndarray) -> dict:
    """The t-SNE map's base figure, once per model version and map ``key`` (``_points`` (N, 2)
    is that map), shared read-only like :func:`ui.state.map_spec`."""
    enc = state.encoded(path, mtime, dataset)
    return fm.map_spec(_points, enc["labels"], enc["ids"], state.load_data(dataset).classes, fm.TSNE_AXES,
                       grid_box=None, uirevision="latent-map-tsne")


def map_spec(cur: state.Current, pts: np.ndarray, ids: np.ndarray) -> dict:
    """The base figure of the t-SNE map ``pts`` (N, 2) of the images ``ids`` (N,)."""
    key = tsne.cache_key(str(cur.entry.path), cur.entry.dataset, SPLIT, ids)
    return _spec(*cur.key, cur.entry.dataset, key, pts)


def focus(pts: np.ndarray, pos: np.ndarray, all_ids: np.ndarray) -> tuple[list[go.Scatter], str]:
    """A marker on the first selected image (position ``pos[0]`` in the set whose ids are
    ``all_ids``) and its caption; nothing when none is selected."""
    if not len(pos):
        return [], ""
    name = f"#{int(all_ids[int(pos[0])])}"
    return [figures.marker_trace(np.asarray(pts[int(pos[0])]), name)], fm.tsne_focus_text(name)


def captions(latent_dim: int, n: int) -> tuple[str, str]:
    """The map's title and the caption saying what t-SNE shows."""
    return fm.tsne_title(latent_dim, n), fm.tsne_caption(tsne.PERPLEXITY)


def no_inverse_note() -> None:
    """What replaces the latent pad and the manifold grid while the map is a t-SNE one."""
    st.subheader("Latent pad and manifold grid")
    st.info("The latent pad, pinned points and the manifold grid decode points of the map's plane, and a t-SNE map "
            "has no way back from a point to a code z. Choose the PCA projection above to use them.")
