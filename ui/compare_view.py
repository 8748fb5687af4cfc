"""Compare's Streamlit glue: two model pickers, and each section drawn for both models side by side.

Every image comes from :mod:`ui.renders` (cached by model path + mtime and the inputs), every
number from a model's ``metrics.json`` or from :func:`computed_numbers` (cached the same way), so
30 students opening the same pair cost one decode each. Figures are :mod:`ui.fig_compare`'s.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import streamlit as st
import torch

from services import validate
from services.catalog import DEFAULT_MODEL, ModelEntry
from ui import fig_compare, figures, inputs, renders, state, widgets
from vae import explore, metrics
from vae.checkpoint import CheckpointError
from vae.data.base import ImageData

SECOND_MODEL = "mnist-10d-beta4"  # the shipped β = 4 model: β = 1 vs β = 4 out of the box
KEYS = ("compare_a", "compare_b")
REFERENCE = 2000  # test images behind the numbers of a model without metrics.json
GREY_SAMPLES = 64  # prior samples (seed 0, T = 1) behind the sentence's blur measure
RECON_SEED = 0  # posterior samples behind an input's −ELBO


@dataclass
class Side:
    """One column of the page: the model, its class names ([] unless conditional) and the class
    picked for it (None unless conditional)."""

    cur: state.Current
    names: list[str]
    label: int | None = None

    @property
    def name(self) -> str:
        return self.cur.entry.name

    @property
    def shown(self) -> str:
        """The name as Markdown shows it (folder names are not trusted)."""
        return widgets.safe_text(self.name, 64)

    def own(self, label: int | None) -> int | None:
        """The class to encode an image of class ``label`` with: its own when the model knows it,
        else the picked one; None for an unconditional model."""
        if not self.names:
            return None
        return label if label is not None and 0 <= label < len(self.names) else self.label


def _defaults(entries: list[ModelEntry]) -> tuple[int, int]:
    """The pickers' first choices: the sidebar's model (else mnist-2d) and the β = 4 model (else
    mnist-2d, else another model), never the same one twice while there are two."""
    paths, names = [str(e.path) for e in entries], [e.name for e in entries]
    held = st.session_state.get(state.MODEL_KEY)
    first = paths.index(held) if held in paths else (names.index(DEFAULT_MODEL) if DEFAULT_MODEL in names else 0)
    for wanted in (SECOND_MODEL, DEFAULT_MODEL):
        if wanted in names and names.index(wanted) != first:
            return first, names.index(wanted)
    return first, (first + 1) % len(names)


def _pick(entries: list[ModelEntry], side: int, index: int, where) -> ModelEntry:
    """One model picker over the catalog's names (``index``: the default); a name the catalog does
    not list (a tampered browser, a model removed meanwhile) is dropped with a message."""
    names = [e.name for e in entries]
    key = KEYS[side]
    held = st.session_state.get(key)
    if held is not None and validate.choice(held, names, None) is None:
        del st.session_state[key]
        where.error(f"There is no model “{widgets.safe_text(held, 64)}” to compare; showing "
                    f"{widgets.safe_text(names[index], 64)}.")
    labels = {e.name: e.label for e in entries}
    title = ("First model", "Second model")[side]
    name = inputs.selectbox(title, names, index=index, key=key, format_func=lambda n: labels.get(n, "?"), where=where)
    return entries[names.index(name)]


def _load(entry: ModelEntry) -> state.Current | None:
    try:
        return state.Current(entry, state.load_checkpoint(str(entry.path), entry.mtime))
    except CheckpointError as exc:
        st.error(f"The model {widgets.safe_text(entry.name, 64)} cannot be loaded: {widgets.safe_text(exc, 600)}")
        return None


def _shape(cur: state.Current) -> str:
    return "×".join(str(s) for s in cur.ckpt.config.image_shape)


def pick_pair() -> tuple[Side, Side] | None:
    """The two models (with a class picker for each conditional one), or None after a message
    saying why they cannot be compared."""
    entries, _ = state.catalog()
    if not entries:
        st.error("No models found. Train one with `python -m vae.train` or on the Train page.")
        return None
    cols = st.columns(2, gap="large")
    defaults = _defaults(entries)
    picked = [_pick(entries, side, defaults[side], cols[side]) for side in (0, 1)]
    curs = [_load(e) for e in picked]
    if curs[0] is None or curs[1] is None:
        return None
    a, b = curs
    if a.ckpt.config.image_shape != b.ckpt.config.image_shape:
        na, nb = (widgets.safe_text(c.entry.name, 64) for c in curs)
        st.error(f"These two models draw images of different shapes ({na}: {_shape(a)}, {nb}: {_shape(b)} channels × "
                 "height × width), so one input cannot go through both. Pick two models with the same image shape.")
        return None
    sides = []
    for side, (cur, col) in enumerate(zip(curs, cols)):
        names = cur.class_names()
        title = f"Class {widgets.safe_text(cur.entry.name, 64)} draws"
        label = inputs.class_picker(title, names, key=f"compare_class_{side}", where=col) if names else None
        sides.append(Side(cur, names, label))
    if picked[0].name == picked[1].name:
        st.info("Both pickers show the same model: pick another one on either side to see a difference.")
    return sides[0], sides[1]


def test_data(a: Side) -> ImageData | None:
    """The first model's test set: the images both models are given."""
    return state.dataset_or_error(a.cur)


def columns(a: Side, b: Side) -> list:
    """Two columns headed by the models' names."""
    cols = st.columns(2, gap="large")
    for col, side in zip(cols, (a, b)):
        col.markdown(f"**{side.shown}**")
    return cols


# (a) the same input --------------------------------------------------------------------------

def same_input(a: Side, b: Side, x: torch.Tensor, origin: str, label: int | None = None) -> None:
    """The prepared input ``x`` (1, C, H, W) in [0, 1] (a test image, an upload, a drawing),
    reconstructed by both models, with each one's −ELBO for it. ``label`` is the image's class
    when known; a conditional model encodes and decodes it as that class (else as the class
    picked for it)."""
    key = renders.digest(x)
    left, *cols = st.columns([1, 2, 2], gap="large")
    with left:
        widgets.show_png(renders.image(key, x[0], 140), caption="the input")
    for col, side in zip(cols, (a, b)):
        lab = side.own(label)
        out = renders.reconstruction(*side.cur.key, key, x, RECON_SEED, lab)
        with col:
            st.markdown(f"**{side.shown}**")
            widgets.show_png(out["recon"], caption=f"reconstructed by {side.name}")
            st.metric("−ELBO of this image (nats)", f"{out['rec_nats'] + out['kl_nats']:.1f}")
            drawn = f"; encoded and decoded as class {side.names[lab]}" if lab is not None else ""
            st.caption(f"reconstruction {out['rec_nats']:.1f} + KL {out['kl_nats']:.1f} nats{drawn}")
    st.caption(f"Input: {origin}.")


def test_image(data: ImageData, i: int) -> tuple[torch.Tensor, str, int]:
    """The test image at position ``i``: (1, C, H, W), a caption and its class."""
    i %= len(data)
    k = int(data.labels[i])
    name = widgets.safe_text(data.classes[k], 40)  # an image folder's subfolder name is not trusted
    return data.float_images(slice(i, i + 1)), f"test image #{int(data.ids[i])} ({name})", k


def uploaded(raw: bytes, file_name: str, a: Side) -> tuple[torch.Tensor, str] | None:
    """An uploaded picture prepared the way the Reconstruct page does (the first model's
    dataset's style): (1, C, H, W) and a caption, or None after an error saying why."""
    prepared = widgets.prepared_upload(raw, a.cur.ckpt.config.image_shape, a.cur.entry.dataset)
    if prepared is None:
        return None
    return prepared.tensor, f"your file {widgets.safe_text(file_name, 80)}"


# (b) the same morph --------------------------------------------------------------------------

def same_morph(a: Side, b: Side, ends: torch.Tensor, ends_labels: tuple[int, int], method: str, steps: int) -> None:
    """The morph between the two images ``ends`` (2, C, H, W) of classes ``ends_labels``, through
    both models: each encodes the ends (a conditional one as their own classes) and decodes
    ``steps`` points of the path (as the class picked for it)."""
    key = renders.digest(ends)
    for col, side in zip(columns(a, b), (a, b)):
        labels = (side.own(ends_labels[0]), side.own(ends_labels[1])) if side.names else None
        out = renders.morph(*side.cur.key, key, ends, method, steps, labels, side.label)
        drawn = f", drawn as class {side.names[side.label]}" if side.label is not None else ""
        with col:
            widgets.show_png(out["strip"], caption=f"{steps} steps, t = 0 … 1, decoded by {side.name}{drawn}")


# (c) prior samples ---------------------------------------------------------------------------

def same_samples(a: Side, b: Side, seed: int, temperature: float, k: int) -> None:
    """A k x k grid of prior samples from each model, both drawn with ``seed`` and ``temperature``
    (the same z where the latent sizes match; the same generator state otherwise)."""
    for col, side in zip(columns(a, b), (a, b)):
        png = renders.samples(*side.cur.key, seed, temperature, k, 3, side.label)
        drawn = f" of class {side.names[side.label]}" if side.label is not None else ""
        with col:
            widgets.show_png(png, caption=f"{k * k} samples{drawn}, z ~ N(0, {temperature:.2f}² I), seed {seed}")


@st.cache_data(show_spinner=False, max_entries=64)
def sample_greyness(path: str, mtime: float, label: int | None = None) -> float:
    """:func:`ui.fig_compare.pixel_entropy` of :data:`GREY_SAMPLES` prior samples (seed 0, T = 1)
    of the model at ``path`` (drawn as class ``label`` by a conditional model), nats per pixel."""
    model = state.load_checkpoint(path, mtime).model
    return fig_compare.pixel_entropy(explore.sample_prior(model, GREY_SAMPLES, state.generator(0), 1.0, label=label))


# (d) numbers ---------------------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=32)
def computed_numbers(path: str, mtime: float, dataset: str, limit: int = REFERENCE) -> dict:
    """:func:`vae.metrics.evaluate` (seed 0) on the first ``limit`` test images, for a model
    without ``metrics.json``; once per model version."""
    model, data = state.load_checkpoint(path, mtime).model, state.load_data(dataset)
    n = min(limit, len(data))
    labels = data.labels[:n] if model.num_classes else None
    return metrics.evaluate(model, data.float_images(slice(0, n)), labels=labels)


def _beta(side: Side) -> float:
    beta = (side.cur.ckpt.training.get("config") or {}).get("beta", 1.0)
    return float(validate.number(beta, 0.0, None, 1.0))


def model_numbers(side: Side) -> fig_compare.ModelNumbers | None:
    """The model's test-set numbers: its metrics.json when it has one, else computed on the first
    :data:`REFERENCE` test images; None (after an error) when neither is possible."""
    m, source = side.cur.ckpt.metrics or {}, ""
    D = side.cur.entry.latent_dim
    if all(k in m for k in ("neg_elbo", "recon", "kl")) and len(m.get("kl_per_dim") or []) == D:
        source = f"metrics.json ({int(validate.number(m.get('n'), 0, None, 0)):,} test images)"
    else:
        data = state.dataset_or_error(side.cur)
        if data is None:
            return None
        with st.spinner(f"Evaluating {side.name} on the test set (once per model)…"):
            m = computed_numbers(*side.cur.key, side.cur.entry.dataset)
        source = f"computed on the first {m['n']:,} test images (no metrics.json)"
    kl = tuple(float(validate.number(v, 0.0, None, 0.0)) for v in m["kl_per_dim"])
    return fig_compare.ModelNumbers(side.name, D, _beta(side), float(m["neg_elbo"]), float(m["recon"]),
                                    float(m["kl"]), kl, source)


def numbers_charts(a: Side, b: Side) -> tuple[fig_compare.ModelNumbers, fig_compare.ModelNumbers] | None:
    """(d): −ELBO and its parts, and KL per dimension, side by side; the numbers shown."""
    na, nb = model_numbers(a), model_numbers(b)
    if na is None or nb is None:
        return None
    pair = f"{a.name}-vs-{b.name}"
    left, right = st.columns([2, 3], gap="large")
    with left:
        st.plotly_chart(fig_compare.elbo_bars(na, nb), key="compare_elbo",
                        config=figures.png_config(f"elbo-{pair}"))
    with right:
        st.plotly_chart(fig_compare.kl_bars(na, nb), key="compare_kl", config=figures.png_config(f"kl-per-dim-{pair}"))
    conditional = [f"{s.shown} is conditional: its numbers are those of −log p(x|y), given each test image's "
                   f"class (at most log {len(s.names)} = {math.log(len(s.names)):.2f} nats better than its −log p(x))."
                   for s in (a, b) if s.names]
    st.caption(" ".join([f"Numbers of {a.shown}: {na.source}. Numbers of {b.shown}: {nb.source}. Grey bars marked "
                         f"“off”: mean KL below {fig_compare.OFF_NATS} nats, a dimension the model switched off.",
                         *conditional]))
    return na, nb


def differ(a: Side, b: Side, na: fig_compare.ModelNumbers, nb: fig_compare.ModelNumbers) -> str:
    """(e): the sentence on what differs, from the numbers and each model's sample blur."""
    grey = [sample_greyness(*s.cur.key, s.label) for s in (a, b)]
    return fig_compare.differ_sentence(na, nb, *grey)
