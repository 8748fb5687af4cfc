"""Latent map: every test image as a point in latent space; select points to see the images,
drag over the latent pad to decode under the cursor (in the browser, ui/live.py), and decode a
grid over the same plane to see the manifold the decoder has learnt."""
from __future__ import annotations

import numpy as np
import streamlit as st

from services import urlstate, validate
from ui import fig_latent_map as fm
from ui import fig_live, figures, inputs, live, renders, state, tsne_view, urlsync, widgets

MAP_KEY = "latent_map_chart"
SEL_KEY = "latent_map_selected"
GRID_KEY = "latent_map_grid"
PAD_KEY = "latent_pad"
PIN_KEY = "latent_pad_z"  # {"model": path, "plane": [a, b], "z": [D values]}
MAX_SHOWN = 24
LOW, HIGH, PAD_POINTS = state.MAP_LOW, state.MAP_HIGH, state.PAD_POINTS

widgets.require_entrypoint()
st.header("Latent map: where the test images land")
widgets.explainer(r"""
Each dot is one test image, placed at the mean $\mu(x)$ of the encoder's posterior
$q(z\mid x)=\mathcal{N}(\mu(x), \mathrm{diag}\,\sigma^2(x))$ and coloured by its label.
The KL term of the ELBO pulls every posterior towards the **prior** $p(z)=\mathcal{N}(0, I)$, so
the codes fill a roughly round cloud around 0. The reconstruction term needs images that look
alike to get nearby codes, so the classes form **clusters**, although the model never saw a label.

**Click** a point, or choose the **box** or **lasso** tool in the chart's toolbar and drag, to
see those images beside their reconstructions (a plain drag zooms; a double-click zooms back
out). The black **ellipse** around the first selected point is its posterior
$\mu \pm 2\sigma$: where the encoder thinks that image's code could be (about 86% of the
posterior's probability lies inside it).

The **manifold grid** decodes an $n \times n$ grid of latent points. The coordinates are
$z = \Phi^{-1}(p)$ for $p$ evenly spaced from 0.05 to 0.95, where $\Phi$ is the standard normal
CDF (as in Kingma & Welling 2014): every cell holds the same prior probability, so the grid is
dense near 0, where most codes are, and sparse in the tails. The dashed box on the map is the
area the grid covers.

The **latent pad** is the same plane drawn in your browser: drag on it and the decoder, running
in the page, draws the image under the cursor as it moves. A click **pins** the point: it is
marked on the map (★) and decoded by the server beside the pad.

With **more than 2 latent dimensions** the map is a **PCA projection**: the two directions along
which the codes vary most. The explained variance says how much of the spread the picture keeps;
points that overlap here can be far apart in the full space. Or choose **t-SNE** (van der Maaten
& Hinton 2008): it keeps each code's nearest neighbours near it, so clusters show more clearly,
but distances between clusters mean little and no point of it stands for a code $z$, so the pad
and the grid stay with PCA.

A **conditional** model is told the class, by the encoder and the decoder: $z$ need not store
it, so the classes overlap on the map instead of forming clusters; $z$ holds the style. The pad
and the grid draw the class you pick.
""")

cur, data = state.require_model_and_data()
D = cur.entry.latent_dim
if D < 2:
    st.error(f"The latent map needs at least 2 latent dimensions; this model has {D}.")
    st.stop()
with st.spinner("Encoding the test set (once per model)…"):
    enc = cur.encoded()
if len(enc["ids"]) < 2:
    st.error(f"The test set of {cur.entry.dataset_label} has {len(enc['ids'])} image(s); the map needs at least 2.")
    st.stop()
plane = cur.plane()  # the 2-D plane drawn: z itself for D = 2, the PCA plane of the codes above
model_key = str(cur.entry.path)
points = state.plane_points(*cur.key, cur.entry.dataset)  # (N, 2)
names = cur.class_names()  # [] for an unconditional model
grid_box = plane.box(LOW, HIGH)
pad_extent = fig_live.pad_extent(points, grid_box)  # the pad's square, as pad_payload draws it
tsne_points = tsne_view.points(cur, enc) if tsne_view.chosen(D) else None  # (N, 2), or None for PCA


def _selection() -> list[int]:
    """The ids selected on this model's map (kept across reruns by the on-select callback)."""
    saved = st.session_state.get(SEL_KEY)
    return list(saved[1]) if saved and saved[0] == model_key else []


def _on_select() -> None:
    st.session_state[SEL_KEY] = (model_key, fm.selected_ids(st.session_state.get(MAP_KEY)))


def _clear() -> None:
    st.session_state[SEL_KEY] = (model_key, [])


def _pinned() -> dict | None:
    """The point pinned on the latent pad for this model, or None."""
    saved = st.session_state.get(PIN_KEY)
    return saved if saved and saved.get("model") == model_key else None


def _pin(value) -> None:
    """Pin the plane point the browser sent (ignored unless it is two finite numbers; clipped
    into the pad's extent)."""
    point = validate.plane_point(value, pad_extent)
    if point is not None:
        st.session_state[PIN_KEY] = {"model": model_key, "plane": point.tolist(), "z": plane.to_z(point).tolist()}


def _pin_from_sliders() -> None:
    _pin([st.session_state.get("latent_pad_a"), st.session_state.get("latent_pad_b")])


def _unpin() -> None:
    st.session_state.pop(PIN_KEY, None)


def _focus(pos: int) -> tuple[list, str]:
    """Overlay traces (posterior ellipse and a marker) and a caption for the image at position ``pos``."""
    point, cov = plane.project(enc["mean"][pos], np.exp(0.5 * enc["logvar"][pos]))
    name = f"#{int(enc['ids'][pos])}"
    point, cov = point.numpy(), cov.numpy()
    return fm.posterior_overlays(point, cov, name, plane.is_pca), fm.focus_text(name, point, cov, plane)


def _show_selection(pos: np.ndarray, n_selected: int) -> None:
    """Originals (left) and their reconstructions (right) for the first MAX_SHOWN positions."""
    shown = [int(i) for i in pos[:MAX_SHOWN]]
    if n_selected > MAX_SHOWN:
        st.caption(f"{n_selected} images selected; showing the first {MAX_SHOWN}.")
    else:
        st.caption(f"{n_selected} image{'s' if n_selected > 1 else ''} selected.")
    pics = renders.selection(*cur.key, cur.entry.dataset, tuple(shown), min(len(shown), 4))
    left, right = st.columns(2)
    if len(shown) == 1:
        i = shown[0]
        label = f"#{int(data.ids[i])} ({data.classes[int(data.labels[i])]})"
        captions = (f"original {label}", "reconstruction")
    else:
        captions = ("originals", "reconstructions")
    for col, part, caption in zip((left, right), ("originals", "reconstructions"), captions):
        with col:
            widgets.show_png(pics[part], caption=caption)
    if len(shown) > 1:
        st.caption(f"In reading order: {', '.join(f'#{int(data.ids[i])}' for i in shown)}.")


def _read_link() -> None:
    """A shared view: its selection, pinned point and pad class into this session."""
    link = urlsync.read("latent_map", urlsync.context(D, cur.num_classes, data.ids), cur.entry.name)
    if "sel" in link:
        st.session_state[SEL_KEY] = (model_key, link["sel"])
    if "pin" in link:
        _pin(link["pin"])
    if "c" in link:
        st.session_state["latent_pad_class"] = link["c"]
    urlsync.copy_link("latent_map")


def _write_link(pos: np.ndarray) -> None:
    """This view into the URL: the selected images' ids, the pinned point, the pad's class."""
    pinned = _pinned()
    label = validate.choice(st.session_state.get("latent_pad_class"), range(len(names)), None) if names else None
    urlsync.write("latent_map", {"sel": [int(data.ids[p]) for p in pos], "pin": pinned["plane"] if pinned else None,
                                 "c": label}, cur.entry.name)
    if len(pos) > urlstate.MAX_SELECTED:
        st.caption(f"A link to this view carries the first {urlstate.MAX_SELECTED} of the selected images.")


@st.fragment
def map_panel() -> None:
    ids = _selection()
    pos = fm.positions_of(ids, data.ids.numpy())
    _write_link(pos)
    if tsne_points is not None:  # t-SNE: no ellipse, no pin, no grid box (nothing maps back to z)
        overlays, focus_text = tsne_view.focus(tsne_points, pos, data.ids.numpy())
        base = tsne_view.map_spec(cur, tsne_points, enc["ids"])
        title, note = tsne_view.captions(D, len(tsne_points))
    else:
        overlays, focus_text = _focus(int(pos[0])) if len(pos) else ([], "")
        pinned = _pinned()
        if pinned is not None:
            overlays = [*overlays, figures.marker_trace(np.asarray(pinned["plane"]), "pinned (latent pad)",
                                                        symbol="star")]
        base, title = state.map_spec(*cur.key, cur.entry.dataset, True), plane.title("test images")
        note = fm.explained_text(plane.explained.tolist()) if plane.is_pca else ""
    # The title goes above the chart, not in it, where Plotly's toolbar would cover it.
    fig = figures.with_overlays(base, overlays)
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.markdown(f"**{title}**")
        kind = "-tsne" if tsne_points is not None else ""
        st.plotly_chart(fig, key=MAP_KEY, on_select=_on_select, selection_mode=("points", "box", "lasso"),
                        alt=title, config=figures.png_config(f"latent-map{kind}-{cur.entry.name}"))
        box = "" if tsne_points is not None else " Dashed box: the area of the manifold grid below."
        st.caption(f"{len(points):,} points, one per test image. Data: {widgets.safe_text(data.source, 600)}.{box}")
        if note:
            st.caption(note)
    with right:
        st.subheader("Selected images")
        if not len(pos):
            st.info("Click a point, or choose the box or lasso tool in the chart's toolbar and drag over the "
                    "map, to see those test images beside their reconstructions.")
            return
        st.button("Clear selection", on_click=_clear)
        _show_selection(pos, len(pos))
        st.caption(focus_text)


def _server_pad(reason: str, axes: tuple[str, str], extent: list[float]) -> None:
    """Fallback for the pad: two sliders pick the pinned point, decoded on the server."""
    st.info(f"Live decoding is off for this model: {reason}. Pick a point with the sliders instead; it is "
            "decoded on the server when you release one.")
    pinned = _pinned()
    for k, (name, key) in enumerate(zip(axes, ("latent_pad_a", "latent_pad_b"))):
        lo, hi = round(extent[2 * k], 2), round(extent[2 * k + 1], 2)
        if key not in st.session_state or not lo <= st.session_state[key] <= hi:
            st.session_state[key] = float(np.clip(pinned["plane"][k] if pinned else 0.0, lo, hi))
        inputs.slider(name, lo, hi, step=0.01, key=key, on_change=_pin_from_sliders)


def pad_panel() -> None:
    """The latent pad (not a fragment: a pin reruns the page, so the map shows the new star)."""
    st.subheader("Latent pad: drag to decode, click to pin")
    label = inputs.class_picker("Class to draw", names, key="latent_pad_class") if names else None
    axes = plane.axis_names
    background = state.pad_background(*cur.key, cur.entry.dataset, LOW, HIGH, PAD_POINTS)
    live_dec = live.live_decoder(cur)
    pinned = _pinned()
    left, right = st.columns([5, 2], gap="large")
    with left:
        if live_dec.ok:
            live.pad(live_dec, PAD_KEY, background, pinned["plane"] if pinned else None, _pin, basis=plane.basis,
                     pad_size=340, image_size=196, label=label)
            st.caption(f"{len(background['points']['x']):,} of the {len(points):,} test images drawn as dots; "
                       "the image beside the pad is decoded in your browser as you drag.")
        else:
            _server_pad(live_dec.reason, axes, background["extent"])
    with right:
        if pinned is None:
            st.caption("Nothing pinned yet. Click on the pad to pin a point: it is marked on the map (★) and "
                       "decoded here by the server.")
            return
        a, b = pinned["plane"]
        png = renders.decoded(*cur.key, tuple(float(v) for v in pinned["z"]), 168, label)
        widgets.show_png(png, caption=f"pinned: {axes[0]} = {a:.2f}, {axes[1]} = {b:.2f}")
        if plane.is_pca:
            st.caption("On the PCA plane: z = mean code + a·PC1 + b·PC2.")
        st.button("Unpin", on_click=_unpin)


@st.fragment
def manifold_panel() -> None:
    st.subheader("Manifold: decode a grid over the map")
    n = inputs.slider("Grid size (n × n images)", 10, 25, 15, key=GRID_KEY)
    label = inputs.class_picker("Class to draw", names, key="latent_grid_class") if names else None
    png, values = renders.manifold(*cur.key, cur.entry.dataset, int(n), LOW, HIGH, 720, label)
    st.markdown(fm.manifold_text(plane, values))
    x, y = plane.axis_names
    caption = f"{x} grows left to right, {y} bottom to top; {n}×{n} images from one decoder call"
    if label is not None:
        caption += f", every one drawn as class {names[label]}"
    widgets.show_png(png, caption=caption)


_read_link()
map_panel()
if tsne_points is None:
    pad_panel()
    manifold_panel()
else:
    tsne_view.no_inverse_note()
