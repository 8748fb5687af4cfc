"""Generate: decode random draws from the prior, with a seed and a temperature."""
from __future__ import annotations

import streamlit as st

from services import validate
from ui import inputs, renders, state, widgets

GRID_SIZES = (4, 6, 8, 10)
SEED_MAX = 2**31 - 1
SHOW_SCALE = 4  # nearest-neighbour upscaling of the mosaic, on screen and in the PNG

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
""")

cur = state.current()
if cur is None:
    st.stop()


def _next_seed() -> None:
    seed = validate.number(st.session_state.get("generate_seed"), 0, SEED_MAX, 0, integer=True)
    st.session_state["generate_seed"] = (seed + 1) % (SEED_MAX + 1)


@st.fragment
def panel() -> None:
    """Controls and the sample grid: a fragment, so a new seed reruns only this part."""
    c1, c2, c3, c4 = st.columns([2, 3, 2, 2], vertical_alignment="bottom")
    seed = inputs.number_input("Seed", min_value=0, max_value=SEED_MAX, step=1, key="generate_seed", where=c1)
    temperature = inputs.slider("Temperature T", 0.1, 2.0, 1.0, step=0.05, key="generate_temperature", where=c2)
    k = inputs.selectbox("Grid size", GRID_SIZES, index=2, format_func=lambda s: f"{s} × {s}", key="generate_grid",
                         where=c3)
    c4.button("New samples", on_click=_next_seed, icon=":material/casino:", use_container_width=True)

    png = renders.samples(*cur.key, int(seed), float(temperature), int(k), SHOW_SCALE)
    widgets.show_png(png, caption=f"{k * k} samples, z ~ N(0, {temperature:.2f}² I), seed {seed}, "
                                   f"decoded by {cur.entry.name}")
    st.download_button("Download grid as PNG", png,
                       file_name=f"samples-{cur.entry.name}-seed{seed}-T{temperature:.2f}.png", mime="image/png",
                       on_click="ignore", icon=":material/download:", key="generate_png")


panel()
