"""Diagnostics: how well the model fits and how it uses its latent space: KL per dimension and
active units, the −ELBO vs IWAE gap, the reconstruction errors with the worst test images, and
for a dataset with known factors the disentanglement metrics and a factor-vs-latent heat map."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ui import diagnostics_state as ds
from ui import fig_diagnostics, figures, state, urlsync, widgets
from vae.factors import METRIC_NAMES

widgets.require_entrypoint()
st.header("Diagnostics: how well does this VAE fit its data?")
urlsync.plain_page("diagnostics")
widgets.explainer(r"""
A trained VAE can be checked the way one checks any model: how well it explains unseen test
images, and what it does with its latent dimensions. This page measures the model chosen in the
sidebar on its dataset's **test split**, in **nats per image** (natural-log units; lower is better
for every loss here). Each chart has its own note. Numbers come from the model's card
(`metrics.json`, written when it was trained or shipped) when it has them, and are computed here
otherwise, once per model for everyone using this server.
""")

cur, data = state.require_model_and_data()
KEY = (*cur.key, cur.entry.dataset)
NAME = cur.entry.name


def _source(info: dict, what: str) -> str:
    if info["source"] == "card":
        return f"{what}: from the model's card (metrics.json), measured on {info['n']} test images."
    return f"{what}: computed here on {info['n']} test images (the model's card does not have them), seed 0."


def latent_usage() -> None:
    """KL per dimension and activity per dimension, as bars."""
    st.subheader("Latent usage: KL per dimension and active units")
    with st.spinner("Measuring the latent dimensions (once per model)…"):
        u = ds.usage(*KEY)
    left, right = st.columns(2)
    left.plotly_chart(fig_diagnostics.kl_bars(u["kl_per_dim"], u["activity_per_dim"], ds.ACTIVE_THRESHOLD),
                      key="diag_kl", config=figures.png_config(f"{NAME}-kl-per-dim"))
    right.plotly_chart(fig_diagnostics.activity_bars(u["activity_per_dim"], ds.ACTIVE_THRESHOLD),
                       key="diag_activity", config=figures.png_config(f"{NAME}-activity"))
    st.caption(f"**{u['active_units']} of {len(u['kl_per_dim'])}** latent dimensions are active. "
               + _source(u, "KL and activity"))
    widgets.explainer(r"""
**Left:** for each latent dimension $z_d$, the average over test images of
$\mathrm{KL}\big(q(z_d\mid x)\,\|\,\mathcal{N}(0,1)\big)$, the nats the encoder spends on that
dimension. A dimension with KL near 0 says the same thing for every image: the model switched it
off (**posterior collapse** of that unit).
**Right:** the **activity** of each dimension, $\mathrm{Var}_x\big(\mathbb{E}_q[z_d\mid x]\big)$,
how much its posterior mean moves from image to image (log scale). Burda et al. (2016) call a
unit **active** when this exceeds 0.01 (dashed line); blue bars are active, grey ones are not.
A larger β or a small dataset switches more units off; the sliders of the inactive ones on the
Decode page do almost nothing.
""")


def bound_gap() -> None:
    """−ELBO vs IWAE bound."""
    st.subheader("The ELBO and the IWAE bound")
    with st.spinner("Computing the IWAE bound (once per model)…"):
        b = ds.bounds(*KEY)
    st.plotly_chart(fig_diagnostics.bound_gap(b["neg_elbo"], b["recon"], b["kl"], b["iwae_nll"], b["iwae_k"]),
                    key="diag_bounds", config=figures.png_config(f"{NAME}-elbo-vs-iwae"))
    st.caption(_source(b, f"−ELBO and IWAE (k = {b['iwae_k']})"))
    widgets.explainer(r"""
The model is trained to minimise **−ELBO** = reconstruction + KL, an *upper* bound on the true
$-\log p(x)$ (top bar, split into its two terms). The **IWAE** bound (Burda et al., 2016) uses
$k$ posterior samples per image,
$-\log \frac{1}{k}\sum_{i=1}^{k} \frac{p(x\mid z_i)\,p(z_i)}{q(z_i\mid x)}$, and tends to
$-\log p(x)$ as $k$ grows (bottom bar). The **gap** between them (title) is roughly how far the
encoder's Gaussian $q(z\mid x)$ is from the true posterior $p(z\mid x)$ (the KL between them, for
$k\to\infty$): a small gap means the encoder is a good approximation; a large one means the
decoder is better than the ELBO makes it look.
""")


def reconstruction_errors() -> None:
    """Histogram of the per-image reconstruction error and the worst images."""
    st.subheader("Reconstruction error over the test set")
    with st.spinner("Scoring every test image (once per model)…"):
        err = ds.errors(*KEY)
        bad = ds.worst(*KEY)
    st.plotly_chart(fig_diagnostics.error_histogram(err["recon"], cutoff=min(bad["recon"])), key="diag_errors",
                    config=figures.png_config(f"{NAME}-reconstruction-errors"))
    st.caption(f"{len(err['recon'])} test images ({widgets.safe_text(data.source, 120)}); mean "
               f"{err['recon'].mean():.2f} nats, median {float(np.median(err['recon'])):.2f}.")
    st.markdown(f"**The {len(bad['ids'])} worst-reconstructed test images** (top) and their reconstructions (bottom)")
    widgets.show_png(bad["png"], caption="Left to right: " + ", ".join(
        f"#{i} ({r:.0f} nats)" for i, r in zip(bad["ids"], bad["recon"])))
    widgets.explainer(r"""
For every test image, the **reconstruction error** $-\log p(x\mid z)$ in nats, with $z$ one draw
from the encoder's posterior $q(z\mid x)$ (seed 0): the reconstruction term of −ELBO, image by
image. Most images sit in the bulk; the right tail holds the ones the model explains worst. The
images beyond the dashed line are shown below the chart, above their reconstructions (decoded
from the posterior mean): often unusual writing, thick strokes or rare classes; sometimes
mislabelled or ambiguous data. They are where a bigger model or more training would help most.
""")


def factor_metrics() -> None:
    """MIG, SAP, DCI and the factor-vs-latent heat map, for a dataset with known factors."""
    st.subheader("Disentanglement: latents against the known factors")
    if data.factors is None:
        st.caption(f"The {cur.entry.dataset_label} dataset has no known factors of variation, so there is "
                   "nothing to score here. Choose the shapes model to see disentanglement metrics.")
        return
    with st.spinner("Scoring disentanglement (once per model)…"):
        try:
            rep = ds.disentanglement(*KEY)
        except ValueError as exc:
            st.error(f"Disentanglement cannot be measured for this model: {widgets.safe_text(exc, 300)}")
            return
    for col, (key, label) in zip(st.columns(len(METRIC_NAMES)), METRIC_NAMES.items()):
        col.metric(label, f"{rep[key]:.3f}")
    kl = ds.usage(*KEY)["kl_per_dim"]
    st.plotly_chart(fig_diagnostics.factor_heatmap(rep["correlation"], rep["factor_names"], kl), key="diag_factors",
                    config=figures.png_config(f"{NAME}-factor-correlations"))
    st.caption(f"{rep['n']} test images, posterior means; continuous factors cut into {rep['factor_bins']} "
               f"equal-width bins for the metrics, seed {rep['seed']}.")
    widgets.explainer(r"""
The shapes images are made from known **factors**: shape, scale, rotation, x and y. A
**disentangled** model puts each factor in a latent of its own. All scores are in $[0, 1]$, higher
is more disentangled, computed from the test images' posterior means:
- **MIG** (Chen et al., 2018): for each factor, the mutual information of its best latent minus
  that of the second best, divided by the factor's entropy; high when one latent alone carries it.
- **SAP** (Kumar et al., 2018): how much better the best single latent predicts a factor than
  the second best (held-out accuracy).
- **DCI** (Eastwood & Williams, 2018), from a regressor's importances: *disentanglement*, each
  latent matters for one factor; *completeness*, each factor is captured by one latent;
  *informativeness*, how well the latents predict the factors at all (held-out $R^2$).

The **heat map** shows the association of each latent (rows, with its KL) with each factor
(columns): $|r|$, the absolute correlation, or for the categorical shape the correlation ratio.
One dark cell per row and per column is the disentangled ideal. A correlation ignores scale: an
inactive latent (KL ≈ 0, grey on the activity chart) can still show a dark cell, but its mean
barely moves, so it carries almost nothing. The β sweep in `models/README.md` shows how β changes
these numbers.
""")


latent_usage()
bound_gap()
reconstruction_errors()
factor_metrics()
