"""The Download page's pieces: the files (built once per model version, shared by every session)
and one row per file (button, what it holds, its size, how to load it).

Every builder here is an ``st.cache_resource`` entry keyed by the model's path and mtime (bytes
are immutable, so sessions share them without copies): an ONNX export or a zip is made once per
model version, however many students ask."""
from __future__ import annotations

import streamlit as st

from services import downloads
from ui import renders, state, widgets
from vae.data.base import DatasetUnavailable

ENTRIES = 16  # per builder: a few MB each (a zip or an ONNX file is about the size of the weights)


@st.cache_resource(show_spinner=False, max_entries=ENTRIES)
def model_zip(path: str, mtime: float) -> bytes:
    """The checkpoint folder at ``path`` as zip bytes (:func:`services.downloads.model_zip`)."""
    del mtime
    return downloads.model_zip(path)


@st.cache_resource(show_spinner="Exporting the decoder as ONNX…", max_entries=ENTRIES)
def onnx_decoder(path: str, mtime: float) -> bytes:
    """The decoder of the model at ``path`` as ONNX bytes."""
    return downloads.onnx_decoder(state.load_checkpoint(path, mtime).model)


@st.cache_resource(show_spinner="Exporting the encoder as ONNX…", max_entries=ENTRIES)
def onnx_encoder(path: str, mtime: float) -> bytes:
    """The encoder of the model at ``path`` as ONNX bytes."""
    return downloads.onnx_encoder(state.load_checkpoint(path, mtime).model)


@st.cache_resource(show_spinner=False, max_entries=ENTRIES)
def codes_csv(path: str, mtime: float, dataset: str) -> bytes:
    """The encoded test set (:func:`ui.state.encoded`) as CSV bytes."""
    return downloads.latent_codes_csv(state.encoded(path, mtime, dataset))


@st.cache_resource(show_spinner=False, max_entries=ENTRIES)
def codes_npz(path: str, mtime: float, dataset: str) -> bytes:
    """The encoded test set (:func:`ui.state.encoded`) and the class names as NPZ bytes."""
    return downloads.latent_codes_npz(state.encoded(path, mtime, dataset), state.load_data(dataset).classes)


def file_stem(name: str) -> str:
    """A model name made safe for a download's file name (letters, digits, ``-_.``)."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)[:80].strip(".") or "model"


def size_text(n: int) -> str:
    """Bytes as people read them: ``812 B``, ``41.2 kB``, ``2.14 MB``."""
    if n < 1000:
        return f"{n} B"
    return f"{n / 1000:.1f} kB" if n < 1_000_000 else f"{n / 1_000_000:.2f} MB"


def row(label: str, data: bytes, file_name: str, mime: str, key: str, what: str, how: str) -> None:
    """One download: the button, a line saying what the file holds and its size, and ``how``
    (Python) to load it."""
    st.download_button(label, data, file_name=file_name, mime=mime, on_click="ignore",
                       icon=":material/download:", key=key)
    st.caption(f"`{file_name}` · {size_text(len(data))} · {what}")
    st.code(how, language="python")


def model_section(cur: state.Current) -> None:
    """The model folder as a zip."""
    stem = file_stem(cur.entry.name)
    try:
        data = model_zip(*cur.key)
    except downloads.DownloadError as exc:
        st.error(f"The model folder cannot be zipped: {widgets.safe_text(exc)}")
        return
    row("Download model (zip)", data, f"{stem}.zip", "application/zip", "download_zip",
        "the checkpoint folder: config.json, model.safetensors, and the card (README.md) and metrics.json "
        "when it has them; no pickles, no training state",
        f"# unzip {stem}.zip, then, with this project installed:\n"
        f"from vae.checkpoint import load\nmodel = load(\"{stem}\").model  # a torch VAE in eval mode")


def _onnx_how(file: str, feeds: str, outputs: str) -> str:
    return (f"import numpy as np, onnxruntime as ort\nsession = ort.InferenceSession(\"{file}\")\n"
            f"{outputs} = session.run(None, {{{feeds}}})")


def onnx_section(cur: state.Current) -> None:
    """The decoder and the encoder as ONNX (exported once per model version)."""
    stem, d, k = file_stem(cur.entry.name), cur.entry.latent_dim, cur.num_classes
    c, h, w = cur.ckpt.config.image_shape
    onehot = f", \"label_onehot\": np.eye({k}, dtype=np.float32)[[3]]" if k else ""
    cond = f" and label_onehot (B, {k}), the one-hot class" if k else ""
    try:
        dec, enc = onnx_decoder(*cur.key), onnx_encoder(*cur.key)
    except ImportError:
        st.error("ONNX export needs the `onnx` package on the server: `pip install onnx`.")
        return
    except (RuntimeError, ValueError) as exc:  # torch.onnx's errors are RuntimeErrors
        st.error(f"This model cannot be exported as ONNX: {widgets.safe_text(exc)}")
        return
    row("Download decoder (ONNX)", dec, f"{stem}-decoder.onnx", "application/octet-stream", "download_decoder",
        f"input z (B, {d}){cond} → image (B, {c}, {h}, {w}), the mean image in [0, 1]; "
        f"ONNX opset {downloads.OPSET}, any batch size",
        _onnx_how(f"{stem}-decoder.onnx", f"\"z\": np.zeros((1, {d}), np.float32){onehot}", "[image]"))
    row("Download encoder (ONNX)", enc, f"{stem}-encoder.onnx", "application/octet-stream", "download_encoder",
        f"input x (B, {c}, {h}, {w}) in [0, 1]{cond} → mean and logvar (B, {d}) of q(z|x); "
        f"ONNX opset {downloads.OPSET}, any batch size",
        _onnx_how(f"{stem}-encoder.onnx", f"\"x\": np.zeros((1, {c}, {h}, {w}), np.float32){onehot}",
                  "mean, logvar"))


def codes_section(cur: state.Current) -> None:
    """The latent codes of the test set as CSV and NPZ."""
    stem, d = file_stem(cur.entry.name), cur.entry.latent_dim
    try:
        n = len(cur.data())
        csv_bytes, npz_bytes = codes_csv(*cur.key, cur.entry.dataset), codes_npz(*cur.key, cur.entry.dataset)
    except DatasetUnavailable as exc:
        st.error(f"The latent codes need the test set: {widgets.safe_text(exc, 1000)}")
        return
    except downloads.DownloadError as exc:
        st.error(f"The latent codes cannot be saved: {widgets.safe_text(exc)}")
        return
    row("Download latent codes (CSV)", csv_bytes, f"{stem}-latents.csv", "text/csv", "download_csv",
        f"one row per test image ({n:,}): id, label, z0..z{d - 1} (posterior mean), "
        f"logvar0..logvar{d - 1} (posterior log-variance)",
        f"import pandas as pd\ncodes = pd.read_csv(\"{stem}-latents.csv\")\nprint(codes.head())")
    row("Download latent codes (NPZ)", npz_bytes, f"{stem}-latents.npz", "application/octet-stream", "download_npz",
        f"the same as arrays: mean and logvar ({n:,}, {d}) float32, labels and ids ({n:,},) int64, "
        "classes (the label names)",
        f"import numpy as np\ncodes = np.load(\"{stem}-latents.npz\", allow_pickle=False)\n"
        "mean, labels = codes[\"mean\"], codes[\"labels\"]")


def decode_pngs(cur: state.Current, z: tuple[float, ...], label: int | None, dim: int, strip: bytes) -> None:
    """The Decode page's PNG buttons: the image decoded from ``z`` (D,) (a cached server render,
    the same pixels the browser draws) and the traversal ``strip`` of latent ``dim`` as shown."""
    stem = file_stem(cur.entry.name)
    drawn = "" if label is None else f"-class{label}"
    c1, c2 = st.columns(2)
    c1.download_button("Download image as PNG", renders.decoded(*cur.key, z, 336, label), mime="image/png",
                       file_name=f"decoded-{stem}{drawn}.png", on_click="ignore", icon=":material/download:",
                       key="decode_png")
    c2.download_button("Download strip as PNG", strip, file_name=f"traversal-{stem}-z{dim}{drawn}.png",
                       mime="image/png", on_click="ignore", icon=":material/download:", key="decode_strip_png")
