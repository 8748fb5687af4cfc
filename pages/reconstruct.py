"""Reconstruct: upload an image (or pick a test image), prepare it the way MNIST was made,
and see what the VAE makes of it: reconstruction, -ELBO and an anomaly percentile."""
from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from services import preprocess
from ui import fig_latent_map as fm
from ui import fig_reconstruct, figures, inputs, renders, state, widgets
from vae import explore

UPLOAD, TEST = "Upload a file", "Try a test image"
FILE_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif"]
STYLE_LABELS = {
    "mnist": "MNIST: crop, fit into 20×20, centre by mass",
    "fit": "Fit: crop, fill the frame, centre",
    "resize": "Resize the whole picture",
}

widgets.require_entrypoint()
st.header("Reconstruct: your own image through the VAE")
widgets.explainer(r"""
The **encoder** turns your image $x$ into a distribution $q(z\mid x)$ over latent codes; the
**decoder** turns its mean back into an image: the **reconstruction**. It shows what the model
*can* draw that is closest to your picture; details it has never seen in training are lost.

First the picture is prepared the way MNIST digits were (LeCun et al., 1998): grayscale,
white strokes on black (a light background is inverted), cropped to the strokes, scaled to fit
20×20 keeping the aspect ratio, then placed in 28×28 so its centre of mass is in the middle.

**−ELBO** (in nats, lower is better) scores how well the model explains the image:
$$-\mathrm{ELBO}(x) = \underbrace{-\mathbb{E}_{q(z\mid x)}[\log p(x\mid z)]}_{\text{reconstruction}}
+ \underbrace{\mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big)}_{\text{how unusual the code is}} \;\ge\; -\log p(x).$$
The **anomaly score** is the percentile of your image's −ELBO among the test images': 99 means
it is harder to explain than 99% of them. Images unlike the training data (a cat, a letter, a
smudge) usually land high, which is how a VAE serves as an **anomaly detector**.
Caveats: the score depends on how you drew and prepared the image (thick or off-centre strokes
cost nats too), and VAEs are known to give *low* scores to some simple out-of-distribution
images (a blank-ish or very smooth picture can look "likely"; Nalisnick et al., 2019). −ELBO
uses random posterior samples, so it changes a little with the seed.
""")

cur, data = state.require_model_and_data()
cfg = cur.ckpt.config
shape = (cfg.channels, cfg.height, cfg.width)

def _controls() -> tuple[str, str, str, int]:
    """The source, preparation style, inversion and seed widgets; their values."""
    source = inputs.radio("Image", [UPLOAD, TEST], horizontal=True, key="recon_source")
    c1, c2, c3 = st.columns([2, 2, 1])
    default = preprocess.default_style(cur.entry.dataset)
    style = inputs.selectbox("Preparation", preprocess.STYLES, index=preprocess.STYLES.index(default),
                             format_func=STYLE_LABELS.__getitem__, key=f"recon_style_{cur.entry.dataset}",
                             help=f"The default matches how {cur.entry.dataset} images were made.", where=c1)
    invert = inputs.radio("Invert to white on black", preprocess.INVERT, horizontal=True, key="recon_invert",
                          help="auto: invert when the border is light (dark ink on white paper).", where=c2)
    seed = inputs.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="recon_seed",
                               help="Seeds the posterior samples behind −ELBO.", where=c3)
    return source, style, invert, int(seed)


def _picture(source: str) -> tuple[bytes, str] | None:
    """The raw picture (encoded file bytes) and where it came from, or None while there is none."""
    if source == UPLOAD:
        uploaded = st.file_uploader("Image file (PNG, JPEG, WebP, BMP or GIF; up to 5 MB)", type=FILE_TYPES,
                                    key="recon_upload")
        if uploaded is None:
            st.info("Upload an image (a digit drawn dark on light paper works), or choose “Try a test image”.")
            return None
        return uploaded.getvalue(), f"your file {widgets.safe_text(uploaded.name, 80)}"
    i = int(inputs.number_input(f"Test image (0 to {len(data) - 1})", min_value=0, max_value=len(data) - 1,
                                step=1, key="recon_index"))
    raw = figures.png_bytes(figures.to_uint8(data.float_images(slice(i, i + 1))[0]))
    return raw, f"test image #{int(data.ids[i])} ({data.classes[int(data.labels[i])]})"


def _prepared(raw: bytes, style: str, invert: str) -> preprocess.Prepared | None:
    """The picture prepared for the model, its notes and steps shown; None (after an error) if it cannot be."""
    try:
        prepared = preprocess.prepare(raw, shape, style=style, invert=invert)
    except preprocess.ImageError as exc:
        st.error(str(exc))
        return None
    for note in prepared.notes:
        st.info(note)
    st.subheader("Preparation, step by step")
    for col, (caption, arr) in zip(st.columns(len(prepared.steps)), prepared.steps):
        col.image(figures.png_bytes(fig_reconstruct.step_image(arr)), caption=caption, width="content",
                  output_format="PNG")
    return prepared


def _verdict(x: torch.Tensor, seed: int, origin: str) -> dict:
    """Input, reconstruction, −ELBO, its percentile and histogram for the prepared ``x`` (1, C, H, W)."""
    out = renders.reconstruction(*cur.key, renders.digest(x), x, seed)
    rec_nats, kl_nats = out["rec_nats"], out["kl_nats"]
    score = rec_nats + kl_nats
    with st.spinner("Scoring the test images once for this model…"):
        reference = state.test_neg_elbos(*cur.key, cur.entry.dataset)
    pct = explore.percentile_rank(score, torch.from_numpy(reference))
    st.subheader("What the VAE makes of it")
    left, right = st.columns([2, 3], gap="large")
    with left:
        a, b = st.columns(2)
        with a:
            widgets.show_png(out["input"], caption="model input")
        with b:
            widgets.show_png(out["recon"], caption="reconstruction")
        st.caption(f"Input: {origin}.")
    with right:
        m1, m2 = st.columns(2)
        m1.metric("−ELBO (nats)", f"{score:.1f}")
        m2.metric("Anomaly score (percentile)", f"{pct:.1f}")
        st.caption(f"−ELBO = reconstruction {rec_nats:.1f} + KL {kl_nats:.1f} nats. Higher than {pct:.1f}% of "
                   f"{len(reference)} test images' −ELBOs under this model.")
        st.plotly_chart(fig_reconstruct.elbo_histogram(reference, score, pct), key="recon_hist")
    return out


def where_it_lands(mean: np.ndarray, std: np.ndarray) -> None:
    """The Latent map's plane with the test images as dots and the posterior N(mean, std²) (D,)
    of the input projected onto it: a marker and its ±2σ ellipse (the Latent map's builders)."""
    st.subheader("Where it lands on the latent map")
    if cur.entry.latent_dim < 2:
        st.caption(f"No latent map for this model: it has {cur.entry.latent_dim} latent dimension, and the map "
                   "is a plane, which needs at least 2.")
        return
    with st.spinner("Encoding the test set (once per model)…"):
        plane = cur.plane()
    point, cov = (t.numpy() for t in plane.project(torch.from_numpy(mean), torch.from_numpy(std)))
    overlays = fm.posterior_overlays(point, cov, "your image", plane.is_pca)
    fig = figures.with_overlays(state.map_spec(*cur.key, cur.entry.dataset, False), overlays, dragmode="pan",
                                clickmode="none")
    st.plotly_chart(fig, key="recon_map", alt=plane.title("test images"))
    if plane.is_pca:
        st.caption("Dots: the test images' posterior means projected onto the PCA plane of the map (PC1, PC2), "
                   "coloured by label. ×: your image's posterior mean; the ring is its posterior ±2σ, projected.")
        st.caption(fm.explained_text(plane.explained.tolist()))
    else:
        st.caption("Dots: the test images' posterior means, coloured by label. ×: your image's posterior mean; "
                   "the ring is its posterior ±2σ.")


@st.fragment
def panel() -> None:
    """The whole page below the explainer (a fragment: changing the image reruns only this part)."""
    source, style, invert, seed = _controls()
    picture = _picture(source)
    if picture is None:
        return
    prepared = _prepared(picture[0], style, invert)
    if prepared is None:
        return
    out = _verdict(prepared.tensor, seed, picture[1])
    where_it_lands(out["mean"], out["std"])


panel()
