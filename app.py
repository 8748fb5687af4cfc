"""VAE Latent Lab: Streamlit entry point. Sets up the page, the sidebar model picker and the
navigation over ``pages/``. Run with ``streamlit run app.py``."""
from __future__ import annotations

import streamlit as st
import torch
from PIL import Image

from services import preprocess
from ui import present, session, state
from vae import settings

# Uploads: Pillow raises (not warns) above this many pixels; Streamlit's own size cap is in
# .streamlit/config.toml (server.maxUploadSize).
Image.MAX_IMAGE_PIXELS = preprocess.MAX_PIXELS

# Requests decode one image or a small batch: one torch thread per server keeps them fastest
# (measured in bench/app_latency.py) and leaves the other cores to training jobs.
torch.set_num_threads(settings.app_threads())

st.set_page_config(page_title="VAE Latent Lab", page_icon=":material/explore:", layout="wide")

PAGES = [
    st.Page("pages/decode.py", title="Decode", icon=":material/tune:", default=True),
    st.Page("pages/latent_map.py", title="Latent map", icon=":material/scatter_plot:"),
    st.Page("pages/neighbours.py", title="Neighbours & arithmetic", icon=":material/join:"),
    st.Page("pages/morph.py", title="Morph", icon=":material/compare_arrows:"),
    st.Page("pages/reconstruct.py", title="Reconstruct", icon=":material/upload:"),
    st.Page("pages/generate.py", title="Generate", icon=":material/casino:"),
    st.Page("pages/lessons.py", title="Lessons", icon=":material/school:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("pages/diagnostics.py", title="Diagnostics", icon=":material/monitoring:"),
    st.Page("pages/download.py", title="Download", icon=":material/download:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
]

st.sidebar.title("VAE Latent Lab")
session.mount_workspace()
session.sidebar()
entry = state.model_picker()
if entry is not None:
    st.sidebar.caption(f"Trained on **{entry.dataset_label}** · {entry.latent_dim} latent dims · {entry.arch}")
present.mount()
st.navigation(PAGES, position=present.nav_position()).run()
