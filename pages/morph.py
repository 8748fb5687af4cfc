"""Morph: encode two images and walk the latent path between them, linearly or spherically."""
from __future__ import annotations

import functools
from collections.abc import Callable

import streamlit as st
import torch

from services import preprocess
from ui import inputs, renders, state, widgets
from vae import explore

SOURCES = ("Test image", "Random of a class", "Upload")
METHODS = {"linear": "Linear (lerp)", "spherical": "Spherical (slerp)"}
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif"]
SIDES = (("a", "Start image", 0), ("b", "End image", 1))

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
picks any $t$ between 0 and 1. The GIF plays the strip forth and back.
""")

cur, data = state.require_model_and_data()
dataset = cur.entry.dataset


def _from_dataset(i: int) -> tuple[torch.Tensor, str]:
    """The test image at position ``i``: (C, H, W) in [0, 1] and a caption."""
    i %= len(data)
    label = data.classes[int(data.labels[i])]
    return data.float_images(slice(i, i + 1))[0], f"test image #{int(data.ids[i])} ({label})"


def _random_of_class(side: str) -> tuple[torch.Tensor, str] | None:
    c1, c2 = st.columns(2)
    k = inputs.selectbox("Class", range(len(data.classes)), format_func=lambda j: data.classes[j],
                         key=f"morph_{side}_class_{dataset}", where=c1)
    seed = inputs.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key=f"morph_{side}_seed", where=c2)
    try:
        i = explore.pick_of_class(data.labels, k, state.generator(seed))
    except ValueError as exc:
        st.error(f"No image to pick: {exc}.")
        return None
    return _from_dataset(i)


def _uploaded(side: str) -> tuple[torch.Tensor, str] | None:
    file = st.file_uploader("Image file", type=UPLOAD_TYPES, key=f"morph_{side}_upload")
    if file is None:
        st.info("Upload an image (PNG, JPEG, WebP, BMP or GIF) to use it as this end of the morph.")
        return None
    try:
        prepared = preprocess.prepare(file.getvalue(), cur.model.config.image_shape,
                                      style=preprocess.default_style(dataset))
    except preprocess.ImageError as exc:
        st.error(str(exc))
        return None
    for note in prepared.notes:
        st.caption(note)
    return prepared.tensor[0], f"uploaded {widgets.safe_text(file.name, 80)}"


def endpoint(side: str, title: str, default: int) -> tuple[torch.Tensor, str] | None:
    """The widgets for one end of the morph; returns its (C, H, W) image and caption, or None."""
    st.subheader(title)
    source = inputs.radio("Source", SOURCES, horizontal=True, key=f"morph_{side}_source")
    if source == "Test image":
        st.session_state.setdefault(f"morph_{side}_index", default)
        i = inputs.number_input("Test image (position in the loaded set)", min_value=0, step=1,
                                key=f"morph_{side}_index")
        return _from_dataset(int(i))
    if source == "Random of a class":
        return _random_of_class(side)
    return _uploaded(side)


@st.fragment
def at_t(z0: torch.Tensor, z1: torch.Tensor, method: str) -> None:
    """A slider over t and the single decoded image there, large."""
    t = inputs.slider("t (0 = start, 1 = end)", 0.0, 1.0, 0.5, step=0.01, key="morph_t")
    zt = explore.interpolate_at(z0, z1, t, method)
    png = renders.decoded(*cur.key, tuple(zt.reshape(-1).tolist()), 280)
    widgets.show_png(png, caption=f"decoded at t = {t:.2f}")


def _strip() -> tuple[dict, Callable[[], bytes], str, int] | None:
    """Both endpoints, the method and N; the strip between the two images. Returns the render
    (:func:`ui.renders.morph`), a maker of its GIF, the method and N, or None while an endpoint
    is missing."""
    ends = []
    for col, (side, title, default) in zip(st.columns(2, gap="large"), SIDES):
        with col, st.container(border=True):
            ends.append(endpoint(side, title, default))
    if any(e is None for e in ends):
        return None
    (x0, cap0), (x1, cap1) = ends

    c1, c2 = st.columns(2)
    method = inputs.radio("Interpolation", list(METHODS), format_func=METHODS.__getitem__, horizontal=True,
                          key="morph_method", where=c1)
    steps = inputs.slider("Steps in the strip (N)", 3, 16, 8, key="morph_steps", where=c2)

    ends_x = torch.stack([x0, x1])
    key = renders.digest(ends_x)
    out = renders.morph(*cur.key, key, ends_x, method, int(steps))
    gif = functools.partial(renders.morph_gif, *cur.key, key, ends_x, method, int(steps))

    left, middle, right = st.columns([1, 8, 1], vertical_alignment="center")
    with left:
        widgets.show_png(out["start"], caption="start (original)")
    with middle:
        widgets.show_png(out["strip"], caption=f"{steps} decoded steps, t = 0 … 1 ({METHODS[method]})")
    with right:
        widgets.show_png(out["end"], caption="end (original)")
    st.caption(f"Start: {cap0}. End: {cap1}.")
    return out, gif, method, int(steps)


@st.fragment
def panel() -> None:
    """The whole morph (a fragment: changing an endpoint or N reruns only this part)."""
    made = _strip()
    if made is None:
        return
    out, gif, method, steps = made
    z = torch.from_numpy(out["z"])
    col_t, col_gif = st.columns([2, 1], gap="large")
    with col_t:
        at_t(z[0], z[1], method)
    with col_gif:
        st.markdown("**Export**")
        st.download_button("Download morph as GIF", gif, file_name="morph.gif",
                           mime="image/gif", on_click="ignore", icon=":material/download:", key="morph_gif")
        st.caption(f"{2 * steps - 2} frames: the {steps} steps forth, then back, looping.")


panel()
