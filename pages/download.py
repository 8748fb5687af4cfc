"""Download: take the model away (zip, ONNX decoder and encoder) with its test set's latent codes
(CSV, NPZ); figures save themselves (each chart's camera button, the pages' PNG buttons)."""
from __future__ import annotations

import streamlit as st

from ui import download_view, state, urlsync, widgets

widgets.require_entrypoint()
st.header("Download: take the model and its latent codes with you")
urlsync.plain_page("download")
widgets.explainer("""
Everything here is the model you picked in the sidebar, as files you can use outside this app:

- the **model folder** (zip): its configuration, its weights (safetensors: plain tensors, no code
  that runs when loaded) and its card, to load back into this project or share;
- the **decoder** and the **encoder** as **ONNX**, a standard format that runs without PyTorch
  (onnxruntime in Python, onnxruntime-web in a browser, and many other runtimes);
- the **latent codes** of the test set: for every test image, the mean and log-variance of
  $q(z\\mid x)$ the encoder gives it, with its label, to plot or analyse in a spreadsheet or numpy.
""")

cur = state.current()
if cur is None:
    st.stop()

st.subheader("The model")
download_view.model_section(cur)
st.subheader("Decoder and encoder as ONNX")
download_view.onnx_section(cur)
st.subheader("Latent codes of the test set")
download_view.codes_section(cur)
st.subheader("Figures")
st.markdown("Every chart in the app has a **camera button** in its top-right toolbar (hover over the chart): it "
            "saves the chart as a PNG. Image panels have their own buttons: *Download PNG* on Decode and "
            "Generate, *Download morph as GIF* on Morph.")
