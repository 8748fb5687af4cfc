"""Small shared widgets."""
from __future__ import annotations

import streamlit as st
import torch

from . import figures


def explainer(markdown: str, title: str = "What am I seeing?") -> None:
    """A collapsed expander explaining the page in classroom terms."""
    with st.expander(title):
        st.markdown(markdown)


def show(img: torch.Tensor, size: int, caption: str | None = None) -> None:
    """One (C, H, W) image, nearest-neighbour upscaled on the server (no browser blur)."""
    st.image(figures.upscale(img, size), caption=caption, width="content", output_format="PNG")


def show_grid(images: torch.Tensor, ncol: int, scale: int = 3, caption: str | None = None) -> None:
    """(N, C, H, W) images as one mosaic, upscaled ``scale`` times with nearest neighbour."""
    mosaic = figures.grid(images, ncol)
    h, w = mosaic.shape[:2]
    st.image(figures.upscale(mosaic, max(h, w) * scale), caption=caption, width="content", output_format="PNG")
