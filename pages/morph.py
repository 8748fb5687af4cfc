"""Morph: encode two images and walk the latent path between them, linearly or spherically."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import streamlit as st
import torch

from services import preprocess, validate
from ui import draw, fig_live, inputs, live, present, renders, state, urlsync, widgets
from vae import explore

SOURCES = ("Test image", "Random of a class", "Upload", "Draw")
METHODS = {"linear": "Linear (lerp)", "spherical": "Spherical (slerp)"}
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif"]
SIDES = (("a", "Start image", 0), ("b", "End image", 1))
LIVE_T_KEY = "morph_live_t"  # the live path (ui/live.py): t follows the drag in the browser
BAD_T_KEY = "_morph_bad_t"  # the message for a t the browser sent that is not in [0, 1]
PAD_KEY, PAD_PIN_KEY = "morph_pad", "morph_pad_pin"  # the small latent pad with the path on it

widgets.require_entrypoint()
st.header("Morph: walk from one image to another")
widgets.explainer(r"""
The **encoder** turns each of the two images into a point of the latent space (the mean of its
posterior $q(z\mid x)$): $z_0$ for the start and $z_1$ for the end. We then walk along a path
from $z_0$ to $z_1$ and let the **decoder** draw every point on the way. If the latent space is
well organised, the pictures change smoothly, and every step still looks like a real image.

- **Linear** (lerp) walks the straight line: $z_t = (1-t)\,z_0 + t\,z_1$.
- **Spherical** (slerp) walks along an arc:
  $$z_t = \frac{\sin((1-t)\,\omega)}{\sin\omega}\,z_0 + \frac{\sin(t\,\omega)}{\sin\omega}\,z_1,
  \qquad \cos\omega = \frac{z_0\cdot z_1}{\lVert z_0\rVert\,\lVert z_1\rVert}.$$

Why the arc? Under the Gaussian prior $\mathcal{N}(0, I)$ in $D$ dimensions almost all points lie
near the sphere of radius $\sqrt{D}$; the centre is rarely visited. Two random codes are nearly
perpendicular there, and the midpoint of the straight line between two perpendicular codes of
equal length is shorter by a factor $1/\sqrt{2}$: it falls into a region the decoder hardly saw
in training. Slerp follows the arc instead, so every point keeps about the codes' own, typical
length, exactly so when both are equally long (White, 2016). In 2 dimensions the difference is
small; try a model with more latent dimensions.

The **strip** shows $N$ equally spaced steps with the two originals at its ends; the **slider**
picks any $t$ between 0 and 1. Where your browser can run the decoder, the image at $t$ follows
the drag, and the ▲ under the strip and the ring on the small latent pad beside it (the path
between the two codes, projected onto the plane of the Latent map) show where $t$ is. The GIF plays the strip
forth and back.

A **conditional** model is told the class: each end is encoded with its own label (an upload
with the class you say it shows), and the whole path is drawn as the class you pick. The morph
then changes the *style* (slant, thickness) of one digit, not which digit it is.
""")

cur, data = state.require_model_and_data()
dataset = cur.entry.dataset
names = cur.class_names()  # [] for an unconditional model
End = tuple[torch.Tensor, str, int | None]  # an end's (C, H, W) image, caption and class (None: not known)
LINKED: dict = {}  # what this view's link says: each end's test-image id (or "upload"/"drawing"), method, N, class
link = urlsync.read("morph", urlsync.context(cur.entry.latent_dim, cur.num_classes, data.ids), cur.entry.name)
for _side, _what in (("a", "start image"), ("b", "end image")):  # a shared view: into the widgets
    if isinstance(link.get(_side), int):
        st.session_state[f"morph_{_side}_source"] = "Test image"
        st.session_state[f"morph_{_side}_index"] = urlsync.position(data.ids, link[_side])
    elif _side in link:
        st.session_state[f"morph_{_side}_source"] = "Draw" if link[_side] == "drawing" else "Upload"
        urlsync.not_in_link(_what)
for _param, _key in (("method", "morph_method"), ("t", "morph_t"), ("n", "morph_steps"), ("c", "morph_class")):
    if _param in link:
        st.session_state[_key] = link[_param]
urlsync.copy_link("morph")


def _from_dataset(i: int) -> End:
    """The test image at position ``i``: (C, H, W) in [0, 1], a caption and its class."""
    i %= len(data)
    k = int(data.labels[i])
    return data.float_images(slice(i, i + 1))[0], f"test image #{int(data.ids[i])} ({data.classes[k]})", k


def _random_of_class(side: str) -> End | None:
    c1, c2 = st.columns(2)
    k = inputs.selectbox("Class", range(len(data.classes)), format_func=lambda j: data.classes[j],
                         key=f"morph_{side}_class_{dataset}", where=c1)
    seed = inputs.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key=f"morph_{side}_seed", where=c2)
    try:
        i = explore.pick_of_class(data.labels, k, state.generator(seed))
    except ValueError as exc:
        st.error(f"No image to pick: {exc}.")
        return None
    LINKED[side] = int(data.ids[i % len(data)])
    return _from_dataset(i)


def _uploaded(side: str) -> End | None:
    file = st.file_uploader("Image file", type=UPLOAD_TYPES, key=f"morph_{side}_upload")
    if file is None:
        st.info("Upload an image (PNG, JPEG, WebP, BMP or GIF) to use it as this end of the morph.")
        return None
    prepared = widgets.prepared_upload(file.getvalue(), cur.model.config.image_shape, dataset)
    if prepared is None:
        return None
    k = inputs.class_picker("It shows", names, key=f"morph_{side}_upload_class") if names else None
    return prepared.tensor[0], f"uploaded {widgets.safe_text(file.name, 80)}", k


def _drawn(side: str) -> End | None:
    """A drawing (:mod:`ui.draw`), prepared in the browser and re-checked here, as this end."""
    k = inputs.class_picker("It shows", names, key=f"morph_{side}_draw_class") if names else None
    x = draw.canvas(cur, key=f"morph_{side}_draw", label=k, style=preprocess.default_style(dataset), image_size=112)
    if x is None:
        st.info("Draw on the canvas: this end of the morph follows when you lift the pen.")
        return None
    return x[0], "your drawing", k


def endpoint(side: str, title: str, default: int) -> End | None:
    """The widgets for one end of the morph; returns its (C, H, W) image, caption and class, or None."""
    st.subheader(title)
    source = inputs.radio("Source", SOURCES, horizontal=True, key=f"morph_{side}_source")
    if source == "Test image":
        st.session_state.setdefault(f"morph_{side}_index", default)
        i = inputs.number_input("Test image (position in the loaded set)", min_value=0, step=1,
                                key=f"morph_{side}_index")
        LINKED[side] = int(data.ids[int(i) % len(data)])
        return _from_dataset(int(i))
    if source == "Random of a class":
        return _random_of_class(side)
    LINKED[side] = "drawing" if source == "Draw" else "upload"  # never in a link
    if source == "Draw":
        return _drawn(side)
    return _uploaded(side)


@st.fragment
def at_t(z0: torch.Tensor, z1: torch.Tensor, method: str, label: int | None) -> None:
    """A slider over t and the single decoded image there (as class ``label``), large."""
    present.stepper("morph_t", 0.0, 1.0, st.session_state.get("morph_steps"), "step")  # presenter: ←/→
    t = inputs.slider("t (0 = start, 1 = end)", 0.0, 1.0, 0.5, step=0.01, key="morph_t")
    zt = explore.interpolate_at(z0, z1, t, method)
    png = renders.decoded(*cur.key, tuple(zt.reshape(-1).tolist()), 280, label)
    widgets.show_png(png, caption=f"decoded at t = {t:.2f}")
    urlsync.write("morph", {**LINKED, "t": t}, cur.entry.name)


def _t_now() -> float:
    """The morph's t in session state (a link's, a presenter step's, the last released), in [0, 1]."""
    return float(validate.number(st.session_state.get("morph_t"), 0.0, 1.0, 0.5))


def _release_t(value: Any) -> None:
    """The live path's t, sent by the browser on release: kept when it is a number in [0, 1]."""
    t = validate.unit_fraction(value)
    if t is None:
        st.session_state[BAD_T_KEY] = ("Ignored a t from the browser that is not a number between 0 and 1; "
                                        f"t stays at {_t_now():.2f}.")
        return
    st.session_state["morph_t"] = t


def live_at_t(dec: live.LiveDecoder, z0: torch.Tensor, z1: torch.Tensor, method: str, label: int | None) -> None:
    """The t slider and the image at t, decoded in the browser as the slider is dragged (not a
    fragment: a release reruns the morph, so the strip's marker and the pad follow)."""
    present.stepper("morph_t", 0.0, 1.0, st.session_state.get("morph_steps"), "step")  # presenter: ←/→
    t = st.session_state["morph_t"] = _t_now()
    bad = st.session_state.pop(BAD_T_KEY, None)
    if bad:
        st.error(bad)
    live.path(dec, LIVE_T_KEY, z0.tolist(), z1.tolist(), method, t, round(t * 10_000), _release_t, label=label,
              channel="morph", size=280)
    urlsync.write("morph", {**LINKED, "t": t}, cur.entry.name)


def _pin(value: Any) -> None:
    point = validate.plane_point(value, state.pad_background(*cur.key, dataset, state.MAP_LOW, state.MAP_HIGH,
                                                             state.PAD_POINTS)["extent"])
    if point is not None:
        st.session_state[PAD_PIN_KEY] = {"model": cur.key, "plane": point.tolist()}


def path_pad(dec: live.LiveDecoder, z0: torch.Tensor, z1: torch.Tensor, method: str, label: int | None) -> None:
    """A small latent pad with the test points, the path z0 -> z1 and a marker at t (moving with
    the live t slider); dragging on it decodes under the cursor."""
    if cur.entry.latent_dim < 2:
        return
    plane = cur.plane()
    background = state.pad_background(*cur.key, dataset, state.MAP_LOW, state.MAP_HIGH, state.PAD_POINTS)
    points = fig_live.path_points(plane, z0, z1, method)
    pin = st.session_state.get(PAD_PIN_KEY)
    pinned = pin["plane"] if isinstance(pin, dict) and pin.get("model") == cur.key else None
    live.pad(dec, PAD_KEY, background, pinned, _pin, basis=plane.basis, pad_size=240, image_size=112, label=label,
             path=live.path_overlay("morph", points, z0.tolist(), z1.tolist(), method, _t_now()))
    st.caption(f"The path on the {'PCA plane' if plane.is_pca else 'latent plane'} of the test images: "
               "hollow dot the start, filled dot the end, the ring is t.")


def _draw_as(ends: list[End]) -> int | None:
    """A conditional model's class to draw the path as (the start's class at first); None when
    unconditional."""
    if not names:
        return None
    start = ends[0][2]
    return inputs.class_picker("Draw the path as", names, key="morph_class", default=start or 0)


def _strip(marked: bool = False) -> tuple[dict, Callable[[], bytes], str, int, int | None] | None:
    """Both endpoints, the method and N; the strip between the two images. Returns the render
    (:func:`ui.renders.morph`), a maker of its GIF, the method, N and the class drawn, or None
    while an endpoint is missing."""
    ends = []
    for col, (side, title, default) in zip(st.columns(2, gap="large"), SIDES):
        with col, st.container(border=True):
            ends.append(endpoint(side, title, default))
    if any(e is None for e in ends):
        return None
    (x0, cap0, y0), (x1, cap1, y1) = ends

    c1, c2 = st.columns(2)
    method = inputs.radio("Interpolation", list(METHODS), format_func=METHODS.__getitem__, horizontal=True,
                          key="morph_method", where=c1)
    steps = inputs.slider("Steps in the strip (N)", 3, 16, 8, key="morph_steps", where=c2)
    label = _draw_as(ends)
    labels = (y0, y1) if names else None

    ends_x = torch.stack([x0, x1])
    key = renders.digest(ends_x)
    out = renders.morph(*cur.key, key, ends_x, method, int(steps), labels, label)
    gif = functools.partial(renders.morph_gif, *cur.key, key, ends_x, method, int(steps), labels, label)

    left, middle, right = st.columns([1, 8, 1], vertical_alignment="center")
    with left:
        widgets.show_png(out["start"], caption="start (original)")
    with middle:
        widgets.show_png(out["strip"], caption=f"{steps} decoded steps, t = 0 … 1 ({METHODS[method]})")
        if marked:  # where t is on the strip (the live path's released t)
            st.html(fig_live.strip_marker_html(_t_now(), int(steps), int(cur.model.config.image_shape[-1])))
    with right:
        widgets.show_png(out["end"], caption="end (original)")
    drawn = f" Every step drawn as class {names[label]}." if names else ""
    st.caption(f"Start: {cap0}. End: {cap1}.{drawn}")
    return out, gif, method, int(steps), label


@st.fragment
def panel() -> None:
    """The whole morph (a fragment: changing an endpoint or N reruns only this part)."""
    dec = live.live_decoder(cur)
    made = _strip(marked=dec.ok)
    urlsync.say_not_in_link(LINKED.get("a"), LINKED.get("b"))
    if made is None:
        urlsync.write("morph", {**LINKED, "t": st.session_state.get("morph_t")}, cur.entry.name)
        return
    out, gif, method, steps, label = made
    LINKED.update(method=method, n=steps, c=label)
    z = torch.from_numpy(out["z"])
    if dec.ok:
        col_t, col_pad = st.columns([1, 1], gap="large")
        with col_t:
            live_at_t(dec, z[0], z[1], method, label)
        with col_pad:
            path_pad(dec, z[0], z[1], method, label)
        col_gif = st.container()
    else:
        col_t, col_gif = st.columns([2, 1], gap="large")
        with col_t:
            st.caption(f"The image at t is decoded on the server: {dec.reason}.")
            at_t(z[0], z[1], method, label)
    with col_gif:
        st.markdown("**Export**")
        st.download_button("Download morph as GIF", gif, file_name="morph.gif",
                           mime="image/gif", on_click="ignore", icon=":material/download:", key="morph_gif")
        st.caption(f"{2 * steps - 2} frames: the {steps} steps forth, then back, looping.")


panel()
