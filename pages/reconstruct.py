"""Reconstruct: upload an image (or pick a test image), prepare it the way MNIST was made,
and see what the VAE makes of it: reconstruction, -ELBO and a complexity-corrected anomaly score
with its percentile among the test images'."""
from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from services import preprocess, validate
from ui import draw, fig_reconstruct, figures, inputs, renders, state, urlsync, widgets
from ui import fig_latent_map as fm
from vae import explore, ood

UPLOAD, TEST, DRAW = "Upload a file", "Try a test image", "Draw"
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
**How unusual is it?** A plain likelihood mixes two things: how well the model knows this kind
of image, and how much detail the image has. Black background with a few sharp white strokes is
cheap to describe for *any* model, so a model of clothes rates MNIST digits *more* likely than
its own test clothes (Nalisnick et al., 2019). The **anomaly score** takes the image's own
complexity out:
$$\text{anomaly score}(x) = -\mathrm{ELBO}(x) - C(x), \qquad C(x) = \textstyle\sum_i H(x_i),$$
where $C(x)$ is what even a perfect copy of the image would cost under this model's pixel
likelihood ($H$ is the entropy of a pixel's gray level: 0 nats for pure black or white, 0.69
for mid-gray). What is left is what the model pays because it does *not* know the image: the
idea of Serrà et al. (2020), with the complexity the likelihood itself charges in place of a
compressed file size. The **percentile** ranks your image's anomaly score among the test
images': 99 means more unusual than 99% of them. On 2,000 test images of each set, it tells
MNIST digits from clothes under the clothes models (AUROC 0.98 and 0.99; plain −ELBO: 0.53 and
0.40) and keeps the digit models' 1.00 against clothes.
Caveats: the score depends on how you drew and prepared the image (thick or off-centre strokes
cost nats too); an almost empty picture still looks ordinary (there is nothing in it to be
unusual about); for a model with a Gaussian pixel likelihood $C(x)$ is the same for every
image, so the score ranks images as −ELBO does. −ELBO uses random posterior samples, so it
changes a little with the seed.
""")

cur, data = state.require_model_and_data()
cfg = cur.ckpt.config
shape = (cfg.channels, cfg.height, cfg.width)
link = urlsync.read("reconstruct", urlsync.context(cur.entry.latent_dim, cur.num_classes, data.ids), cur.entry.name)
if isinstance(link.get("img"), int):  # a shared view: its test image (and seed) into the widgets
    st.session_state["recon_source"] = TEST
    st.session_state["recon_index"] = urlsync.position(data.ids, link["img"])
elif "img" in link:
    st.session_state["recon_source"] = DRAW if link["img"] == "drawing" else UPLOAD
    urlsync.not_in_link("image")
if "seed" in link:
    st.session_state["recon_seed"] = link["seed"]
urlsync.copy_link("reconstruct")


def _linked(source: str) -> int | str:
    """What the link says of the picture: the test image's id, or "upload" / "drawing"."""
    if source == TEST:
        return int(data.ids[validate.number(st.session_state.get("recon_index"), 0, len(data) - 1, 0, integer=True)])
    return "drawing" if source == DRAW else "upload"

def _controls() -> tuple[str, str, str, int]:
    """The source, preparation style, inversion and seed widgets; their values."""
    source = inputs.radio("Image", [UPLOAD, TEST, DRAW], horizontal=True, key="recon_source")
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


def _picture(source: str) -> tuple[bytes, str, int | None] | None:
    """The raw picture (encoded file bytes), where it came from and its class (a test image's
    own; an upload's as the user says, for a conditional model; else None), or None while there
    is none."""
    if source == UPLOAD:
        uploaded = st.file_uploader("Image file (PNG, JPEG, WebP, BMP or GIF; up to 5 MB)", type=FILE_TYPES,
                                    key="recon_upload")
        if uploaded is None:
            st.info("Upload an image (a digit drawn dark on light paper works), or choose “Try a test image”.")
            return None
        names = cur.class_names()
        label = inputs.class_picker("It shows", names, key="recon_class") if names else None
        return uploaded.getvalue(), f"your file {widgets.safe_text(uploaded.name, 80)}", label
    i = int(inputs.number_input(f"Test image (0 to {len(data) - 1})", min_value=0, max_value=len(data) - 1,
                                step=1, key="recon_index"))
    raw = figures.png_bytes(figures.to_uint8(data.float_images(slice(i, i + 1))[0]))
    label = int(data.labels[i]) if cur.num_classes else None
    return raw, f"test image #{int(data.ids[i])} ({data.classes[int(data.labels[i])]})", label


def _drawn(style: str, invert: str) -> tuple[torch.Tensor, str, int | None] | None:
    """The drawing on the canvas (:mod:`ui.draw`), prepared in the browser and re-checked here:
    (1, C, H, W), where it came from and its class (a conditional model's, as the user says), or
    None while nothing is drawn."""
    names = cur.class_names()
    label = inputs.class_picker("It shows", names, key="recon_draw_class") if names else None
    x = draw.canvas(cur, key="recon_draw", label=label, style=style, invert=invert)
    if x is None:
        st.info("Draw a digit on the canvas: the server reconstructs and scores it when you lift the pen.")
        return None
    return x, "your drawing", label


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


def _verdict(x: torch.Tensor, seed: int, origin: str, label: int | None = None) -> dict:
    """Input, reconstruction and :func:`_scores` for the prepared ``x`` (1, C, H, W),
    encoded and decoded as class ``label`` by a conditional model."""
    out = renders.reconstruction(*cur.key, renders.digest(x), x, seed, label)
    st.subheader("What the VAE makes of it")
    left, right = st.columns([2, 3], gap="large")
    with left:
        a, b = st.columns(2)
        with a:
            widgets.show_png(out["input"], caption="model input")
        with b:
            widgets.show_png(out["recon"], caption="reconstruction")
        st.caption(f"Input: {origin}." + (f" Encoded and decoded as class {cur.class_names()[label]}."
                                          if label is not None else ""))
    with right:
        _scores(x, out)
    return out


def _scores(x: torch.Tensor, out: dict) -> None:
    """−ELBO, the anomaly score (−ELBO minus the image's own complexity, :mod:`vae.ood`) of the
    prepared ``x`` (1, C, H, W), its percentile among the test images' and their histogram."""
    neg_elbo = out["rec_nats"] + out["kl_nats"]
    own = float(ood.complexity(cur.model, x)[0])
    anomaly = neg_elbo - own
    with st.spinner("Scoring the test images once for this model…"):
        ref_elbo = state.test_neg_elbos(*cur.key, cur.entry.dataset)
        reference = state.test_anomaly_scores(*cur.key, cur.entry.dataset)
    pct = explore.percentile_rank(anomaly, torch.from_numpy(reference))
    pct_elbo = explore.percentile_rank(neg_elbo, torch.from_numpy(ref_elbo))
    m1, m2, m3 = st.columns(3)
    m1.metric("−ELBO (nats)", f"{neg_elbo:.1f}")
    m2.metric("Anomaly score (nats)", f"{anomaly:.1f}")
    m3.metric("Anomaly score (percentile)", f"{pct:.1f}")
    st.caption(f"−ELBO = reconstruction {out['rec_nats']:.1f} + KL {out['kl_nats']:.1f} nats; minus the image's own "
               f"complexity {own:.1f} nats leaves the anomaly score {anomaly:.1f}. Higher than {pct:.1f}% of "
               f"{len(reference)} test images' anomaly scores under this model (by −ELBO alone: higher than "
               f"{pct_elbo:.1f}% of theirs).")
    st.plotly_chart(fig_reconstruct.score_histogram(reference, anomaly, pct), key="recon_hist",
                    config=figures.png_config(f"anomaly-score-{cur.entry.name}"))


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
    st.plotly_chart(fig, key="recon_map", alt=plane.title("test images"),
                    config=figures.png_config(f"reconstruct-map-{cur.entry.name}"))
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
    if source == DRAW:
        picture = _drawn(style, invert)
    else:
        picture = _picture(source)
        prepared = None if picture is None else _prepared(picture[0], style, invert)
        picture = None if prepared is None else (prepared.tensor, picture[1], picture[2])
    urlsync.write("reconstruct", {"img": _linked(source), "seed": seed}, cur.entry.name)
    urlsync.say_not_in_link(_linked(source))
    if picture is None:
        return
    x, origin, label = picture
    out = _verdict(x, seed, origin, label)
    where_it_lands(out["mean"], out["std"])


panel()
