"""Generate: decode random draws from the prior, with a seed and a temperature."""
from __future__ import annotations

import streamlit as st

from services import validate
from ui import inputs, present, renders, state, urlsync, widgets

GRID_SIZES = (4, 6, 8, 10)
SEED_MAX = 2**31 - 1
SHOW_SCALE = 4  # nearest-neighbour upscaling of the mosaic, on screen and in the PNG
ALL = "all"  # the class picker's extra option: one row per class

widgets.require_entrypoint()
st.header("Generate: new images from the prior")
widgets.explainer(r"""
A VAE is a **generative model**: to make a new image, draw a random point of the latent space
from the prior and let the **decoder** draw it,
$$z \sim \mathcal{N}(0,\, T^2 I), \qquad x = \text{decoder}(z).$$
None of these images is in the training set; each one is what the model believes an image at
that point looks like (we show the decoder's mean, not a noisy sample of pixels).

The **temperature** $T$ scales the spread of the draws. $T = 1$ is the prior the model was
trained towards. $T < 1$ keeps the draws near the centre, where training codes are dense: the
samples look cleaner and more typical, but less varied. $T > 1$ reaches regions the decoder
rarely saw, giving more variety and more broken images.

The **seed** fixes the random draws: the same seed, temperature and model always give the same
grid, so you can share an interesting seed with the class.

A **conditional** model also gets a class: $x = \text{decoder}(z, y)$. Pick the digit to draw,
or **every class**: then each row is one class and each column one draw of $z$, the same $z$ in
every row. Along a column the digit changes and the style (slant, thickness) stays: $z$ holds
the style, the class says what to draw.
""")

cur = state.current()
if cur is None:
    st.stop()
link = urlsync.read("generate", urlsync.context(cur.entry.latent_dim, cur.num_classes), cur.entry.name)
for param, key in (("seed", "generate_seed"), ("temp", "generate_temperature"), ("n", "generate_grid"),
                   ("c", "generate_class")):
    if param in link:  # a shared view: its values into the widgets, before they are drawn
        st.session_state[key] = link[param]
urlsync.copy_link("generate")


def _next_seed() -> None:
    seed = validate.number(st.session_state.get("generate_seed"), 0, SEED_MAX, 0, integer=True)
    st.session_state["generate_seed"] = (seed + 1) % (SEED_MAX + 1)


def _grid(seed: int, temperature: float, k: int) -> tuple[bytes, str, str, int | str | None]:
    """The sample grid's PNG, its caption, a file-name part and the class drawn; a conditional
    model draws the class picked (or one row per class: ``ALL``); None when unconditional."""
    drawn = f"z ~ N(0, {temperature:.2f}² I), seed {seed}, decoded by {cur.entry.name}"
    names = cur.class_names()
    if not names:
        return renders.samples(*cur.key, seed, temperature, k, SHOW_SCALE), f"{k * k} samples, {drawn}", "", None
    label = inputs.class_picker("Class to draw", names, key="generate_class", extra={ALL: "every class"})
    if label == ALL:
        png = renders.class_samples(*cur.key, seed, temperature, k, len(names), SHOW_SCALE)
        return png, (f"{k} samples per class, one row per class ({names[0]} at the top): {drawn}; each column "
                     "is one z drawn as every class"), "-every-class", ALL
    png = renders.samples(*cur.key, seed, temperature, k, SHOW_SCALE, label)
    return png, f"{k * k} samples of class {names[label]}, {drawn}", f"-class{label}", label


@st.fragment
def panel() -> None:
    """Controls and the sample grid: a fragment, so a new seed reruns only this part."""
    c1, c2, c3, c4 = st.columns([2, 3, 2, 2], vertical_alignment="bottom")
    seed = inputs.number_input("Seed", min_value=0, max_value=SEED_MAX, step=1, key="generate_seed", where=c1)
    temperature = inputs.slider("Temperature T", 0.1, 2.0, 1.0, step=0.05, key="generate_temperature", where=c2)
    k = inputs.selectbox("Grid size", GRID_SIZES, index=2, format_func=lambda s: f"{s} × {s}", key="generate_grid",
                         where=c3)
    c4.button("New samples", on_click=_next_seed, icon=":material/casino:", use_container_width=True,
              key="generate_next")
    present.shortcuts({"n": ("next seed", [present.button("generate_next")])}, "generate")
    png, caption, suffix, label = _grid(int(seed), float(temperature), int(k))
    urlsync.write("generate", {"seed": seed, "temp": temperature, "n": k, "c": label}, cur.entry.name)
    widgets.show_png(png, caption=caption)
    st.download_button("Download grid as PNG", png,
                       file_name=f"samples-{cur.entry.name}{suffix}-seed{seed}-T{temperature:.2f}.png",
                       mime="image/png", on_click="ignore", icon=":material/download:", key="generate_png")


panel()
