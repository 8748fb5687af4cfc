"""VAE Latent Lab - Streamlit entry point (minimal until the explore pages land)."""
from __future__ import annotations

import streamlit as st

from vae.registry import DATASETS, MODEL_PRESETS

st.set_page_config(page_title="VAE Latent Lab", layout="wide")
st.title("VAE Latent Lab")
st.write("Train a variational autoencoder from the command line with `python -m vae.train`; "
         "the explore pages arrive with the shipped models.")
st.subheader("Datasets")
st.table({"name": list(DATASETS), "description": [s.description for s in DATASETS.values()]})
st.subheader("Model presets")
st.table({"preset": list(MODEL_PRESETS), "fields": [str(v) for v in MODEL_PRESETS.values()]})
