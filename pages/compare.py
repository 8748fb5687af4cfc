"""Compare: the same input, morph and prior samples through two models side by side, their
−ELBO and KL per dimension, and a sentence on what differs."""
from __future__ import annotations

import streamlit as st
import torch

from services import validate
from ui import compare_view as cv
from ui import draw, inputs, state, urlsync, widgets

SOURCES = ("Test image", "Random test image", "Upload", "Draw")
METHODS = {"linear": "Linear (lerp)", "spherical": "Spherical (slerp)"}
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif"]
SEED_MAX = 2**31 - 1

widgets.require_entrypoint()
st.header("Compare: two models side by side")
urlsync.plain_page("compare")
widgets.explainer(r"""
Pick two models: everything below runs the **same** thing through both. Out of the box the pair
is `mnist-2d` (β = 1, 2 latent dimensions) and `mnist-10d-beta4` (β = 4, 10 dimensions); try
`mnist-20d` (β = 1, 20 dimensions) on either side too. Both must draw images of the same shape.

A β-VAE (Higgins et al., 2017) trains on $\text{recon} + \beta\,\mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big)$.
With $\beta > 1$ every nat stored in $z$ costs more, so the model stores less: it **switches
off** dimensions it can spare (their posterior is the prior for every image, KL ≈ 0: *posterior
collapse*) and its reconstructions lose detail. More latent dimensions let a model store more,
but a VAE only uses as many as it pays for.
""")

pair = cv.pick_pair()
if pair is None:
    st.stop()
a, b = pair
data = cv.test_data(a)
if data is None:
    st.stop()
if a.cur.entry.dataset != b.cur.entry.dataset:
    st.caption(f"The models were trained on different datasets; the test images are {a.shown}'s "
               f"({widgets.safe_text(a.cur.entry.dataset_label, 80)}).")


def _input() -> tuple[torch.Tensor, str, int | None] | None:
    """The input both models get: (1, C, H, W), where it came from and its class (None when not known)."""
    source = inputs.radio("Input", SOURCES, horizontal=True, key="compare_source")
    if source == "Test image":
        i = inputs.number_input("Test image (position in the loaded set)", min_value=0, max_value=len(data) - 1,
                                step=1, key="compare_index")
        return cv.test_image(data, int(i))
    if source == "Random test image":
        seed = inputs.number_input("Seed", min_value=0, max_value=SEED_MAX, step=1, key="compare_pick_seed")
        i = int(torch.randint(len(data), (1,), generator=state.generator(int(seed))))
        return cv.test_image(data, i)
    if source == "Draw":  # drawn for (and reconstructed live in the browser by) the first model
        label = inputs.class_picker("It shows", a.names, key="compare_draw_class") if a.names else None
        x = draw.canvas(a.cur, key="compare_draw", label=label)
        if x is None:
            st.info("Draw a digit on the canvas: both models reconstruct it when you lift the pen.")
            return None
        return x, "your drawing", label
    file = st.file_uploader("Image file", type=UPLOAD_TYPES, key="compare_upload")
    if file is None:
        st.info("Upload an image (PNG, JPEG, WebP, BMP or GIF) to give it to both models.")
        return None
    prepared = cv.uploaded(file.getvalue(), file.name, a)
    return None if prepared is None else (*prepared, None)


@st.fragment
def section_input() -> None:
    st.subheader("The same input, reconstructed by both")
    widgets.explainer(r"""
Each model encodes the image to its posterior $q(z\mid x)$ and decodes the mean: the
reconstruction is what the model *can* draw closest to the input. Below each one, the image's
$-\mathrm{ELBO} = \text{reconstruction} + \mathrm{KL}$ in nats (lower: the model explains the image
better). A model that stores less in $z$ (higher β, fewer dimensions) pays less KL and more
reconstruction: its copy is blurrier. Uploads are prepared as on the Reconstruct page.
""")
    chosen = _input()
    if chosen is not None:
        cv.same_input(a, b, *chosen)


@st.fragment
def section_morph() -> None:
    st.subheader("The same morph through both")
    widgets.explainer(r"""
Both models encode the same two test images and decode the same path between their codes
(linear or spherical, as on the Morph page). A smooth morph means the latent space between the
two codes is filled with plausible images; a model with few active dimensions has fewer ways
to go from one image to the other.
""")
    c1, c2, c3, c4 = st.columns([1, 1, 2, 2])
    i = inputs.number_input("Start: test image", min_value=0, max_value=len(data) - 1, value=0, step=1,
                            key="compare_morph_start", where=c1)
    j = inputs.number_input("End: test image", min_value=0, max_value=len(data) - 1, value=1, step=1,
                            key="compare_morph_end", where=c2)
    method = inputs.radio("Interpolation", list(METHODS), format_func=METHODS.__getitem__, horizontal=True,
                          key="compare_morph_method", where=c3)
    steps = inputs.slider("Steps", 3, 12, 8, key="compare_morph_steps", where=c4)
    (x0, cap0, y0), (x1, cap1, y1) = cv.test_image(data, int(i)), cv.test_image(data, int(j))
    cv.same_morph(a, b, torch.cat([x0, x1]), (y0, y1), method, int(steps))
    st.caption(f"From {cap0} to {cap1}.")


@st.fragment
def section_samples() -> None:
    st.subheader("Prior samples with the same seed")
    widgets.explainer(r"""
Each grid decodes draws $z \sim \mathcal{N}(0, T^2 I)$ from the prior, made with the same seed
and temperature $T$ for both models (the very same $z$ when both have as many latent dimensions).
A model whose codes fill the prior well draws plausible images almost everywhere; one that
stores more in $z$ draws sharper ones but leaves holes between its codes.
""")
    c1, c2 = st.columns(2)
    seed = inputs.number_input("Seed", min_value=0, max_value=SEED_MAX, step=1, key="compare_seed", where=c1)
    temperature = inputs.slider("Temperature T", 0.1, 2.0, 1.0, step=0.05, key="compare_temperature", where=c2)
    cv.same_samples(a, b, int(seed), float(temperature), 4)


def section_numbers() -> None:
    st.subheader("−ELBO and KL per dimension")
    widgets.explainer(r"""
**Left**: each model's average $-\mathrm{ELBO}$ on the test set and its two parts, in nats per
image. **Right**: the KL term split over the latent dimensions, $\mathrm{KL} = \sum_d
\mathrm{KL}\big(q(z_d\mid x)\,\|\,\mathcal{N}(0,1)\big)$ averaged over test images, sorted from the
most used dimension to the least. A grey bar marked **off** is a dimension whose KL is below
0.01 nats: its posterior equals the prior for every image, so it carries nothing: **posterior
collapse**, made visible. The higher β, the more a dimension must be worth to be kept, so a
β-VAE tends to switch off a larger share of its dimensions.
""")
    numbers = cv.numbers_charts(a, b)
    if numbers is None:
        return
    st.subheader("What differs")
    widgets.explainer(r"""
A sentence computed from the numbers above (nothing in it is written by hand): dimensions
switched off, reconstruction and KL on the test set, and how blurry each model's prior samples
are: the mean binary entropy of their pixels, $H(p) = -p\ln p - (1-p)\ln(1-p)$, 0 for pure
black or white, 0.69 nats for mid-grey (64 samples, seed 0, $T = 1$).
""")
    st.info(validate.markdown_escape(cv.differ(a, b, *numbers)))


section_input()
section_morph()
section_samples()
section_numbers()
