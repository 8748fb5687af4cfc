"""Decode: one slider per latent dimension; the decoder draws what that point means.

The sliders and the image are live (ui/live.py): the decoder runs in the browser while a
slider is dragged, and z reaches the server on release, which redraws the traversal strip.
When the decoder cannot run in the browser, Streamlit sliders and a server-side image stand in."""
from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from services import validate
from ui import download_view, fig_live, inputs, live, present, renders, state, urlsync, widgets
from vae import explore

MAX_SLIDERS = 32
RANGE = 3.0
SEED_MAX = 2**31 - 1

EXPLAIN = r"""
The **decoder** turns a point $z$ of the latent space into an image. Each slider sets one
coordinate of $z$. During training the encoder's codes were pulled towards the prior
$p(z)=\mathcal{N}(0, I)$ by the KL term of the ELBO,
$$\log p(x) \ge \mathbb{E}_{q(z\mid x)}[\log p(x\mid z)] - \mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big),$$
so the useful region is roughly $-3 \le z_i \le 3$ (three prior standard deviations).
Sliders are ordered by how much each dimension is used (its average KL on the test set):
dimensions near the bottom with KL ≈ 0 were switched off by the model and change little.
The **traversal strip** shows one dimension swept from −3 to +3 with the others fixed.

While you drag a slider the image is decoded **in your browser**: the decoder's weights are
sent to the page once, so the picture follows the thumb; the strip updates when you let go.
"""
CONDITIONAL = r"""

**This model is conditional**: its decoder gets the class as well as $z$, $x = \text{decoder}(z, y)$.
The **class picker** sets *what* to draw (which digit); $z$ sets *how* to draw it: its style
(slant, thickness, width). Since the decoder is told the class, the training had no reason to
store it in $z$. The row **"the same z as every class"** shows it: one $z$, one handwriting,
every digit.
"""

widgets.require_entrypoint()
st.header("Decode: move through the latent space")
cur = state.current()
widgets.explainer(EXPLAIN + (CONDITIONAL if cur is not None and cur.num_classes else ""))
if cur is None:
    st.stop()

D = cur.entry.latent_dim
kl = cur.kl_per_dim()
order = explore.dims_by_activity(kl)
shown = order[:MAX_SLIDERS]
model_key = str(cur.entry.path)
names = cur.class_names()  # [] for an unconditional model


def _key(d: int) -> str:
    return f"decode_z{d}"


def _set_all(values: np.ndarray) -> None:
    """Put a whole latent vector into the sliders (and the held, hidden dims); a new revision
    tells the live sliders in the browser to take it."""
    z = fig_live.clip_shown(values, shown, RANGE)
    st.session_state["decode_hidden"] = z.tolist()
    st.session_state["decode_rev"] = st.session_state.get("decode_rev", 0) + 1
    for d in shown:
        st.session_state[_key(d)] = float(z[d])


if st.session_state.get("decode_model") != model_key:  # a new model: start at the origin
    st.session_state["decode_model"] = model_key
    _set_all(np.zeros(D))
link = urlsync.read("decode", urlsync.context(D, cur.num_classes), cur.entry.name)  # a shared view
if "z" in link:
    _set_all(np.asarray(link["z"]))
if "c" in link:
    st.session_state["decode_class"] = link["c"]
urlsync.copy_link("decode")


def _random() -> None:
    gen = state.generator(validate.number(st.session_state.get("decode_seed"), 0, SEED_MAX, 0, integer=True))
    _set_all(torch.randn(D, generator=gen).numpy())


def _from_image() -> None:
    data = state.dataset_or_error(cur)
    if data is None:
        return
    i = validate.number(st.session_state.get("decode_index"), 0, None, 0, integer=True) % len(data)
    label = int(data.labels[i])
    mean, _ = explore.encode_images(cur.model, data.float_images(slice(i, i + 1)), labels=label if names else None)
    _set_all(mean[0].numpy())
    if names:  # draw it as its own class, so the image is its reconstruction
        st.session_state["decode_class"] = label
    st.session_state["decode_source"] = f"encoded test image #{int(data.ids[i])} ({data.classes[int(data.labels[i])]})"


def _released(values) -> None:
    """A live slider was released: the browser sends the whole z (no new revision: it has it).
    Only the shown dims come from the browser (clipped to the sliders' range); the hidden ones
    keep the server's held values."""
    z = validate.latent(values, D, limit=RANGE)
    if z is None:
        return
    hidden = np.ones(D, dtype=bool)
    hidden[list(shown)] = False
    held = np.asarray(st.session_state.get("decode_hidden", []), dtype=np.float64)
    z[hidden] = held[hidden] if held.shape == (D,) else 0.0
    st.session_state["decode_hidden"] = z.tolist()
    for d in shown:
        st.session_state[_key(d)] = float(z[d])


def controls() -> int | None:
    """The buttons, seed and test-image inputs, and a conditional model's class picker: the
    class to draw (None when unconditional)."""
    label = inputs.class_picker("Class to draw", names, key="decode_class") if names else None
    b1, b2 = st.columns(2)
    b1.button("Reset to 0", on_click=_set_all, args=(np.zeros(D),), use_container_width=True)
    b2.button("Random from prior", on_click=_random, use_container_width=True, key="decode_random")
    inputs.number_input("Seed", min_value=0, max_value=SEED_MAX, step=1, key="decode_seed")
    c1, c2 = st.columns([2, 1])
    inputs.number_input("Test image (position in the loaded set)", min_value=0, step=1, key="decode_index", where=c1)
    c2.button("Encode it", on_click=_from_image, use_container_width=True)
    if len(order) > MAX_SLIDERS:
        st.caption(f"Showing the {MAX_SLIDERS} most active of {D} dimensions; the others stay at their "
                   "held values (0, or the encoded image's).")
    return label


def classes_row(live_dec: live.LiveDecoder, held: list[float], rev: int) -> None:
    """A conditional model's z (D,) drawn as each of its classes (z is the style, not the class):
    live in the browser, following the sliders, or decoded on the server."""
    caption = f"the same z as every class ({names[0]} to {names[-1]}): the class is what to draw, z is how"
    if live_dec.ok:
        live.view(live_dec, "decode", held, rev, key="decode_live_classes", size=56, caption=caption,
                  labels=range(len(names)))
    else:
        widgets.show_png(renders.classes_row(*cur.key, tuple(held), len(names), 2), caption=caption)


@st.fragment
def panel() -> None:
    present.shortcuts({"r": ("random z", [present.button("decode_seed", "stNumberInputStepUp"),
                                          present.button("decode_random")])}, "decode")
    live_dec = live.live_decoder(cur)
    rev = st.session_state.get("decode_rev", 0)
    left, right = st.columns([3, 2], gap="large")
    with right:
        held = st.session_state["decode_hidden"]  # float64, as the browser gets it
        z = np.array(held, dtype=np.float32)
        label = controls()
        if live_dec.ok:
            live.sliders(live_dec, "decode", held, rev, fig_live.slider_dims(shown, kl), key="decode_live_sliders",
                         on_release=_released, limit=RANGE, step=0.05)
        else:
            for d in shown:
                z[d] = inputs.slider(f"z{d}  (KL {kl[d]:.2f})", -RANGE, RANGE, step=0.05, key=_key(d))
    with left:
        if live_dec.ok:
            live.view(live_dec, "decode", held, rev, key="decode_live_view", size=336, label=label,
                      caption="decoded image: drawn in your browser, it follows the sliders as you drag")
        else:
            st.info(f"Live decoding is off for this model: {live_dec.reason}. The image is decoded on the "
                    "server instead, when you release a slider.")
            widgets.show_png(renders.decoded(*cur.key, tuple(z.tolist()), 336, label), caption="decoded image")
        if st.session_state.get("decode_source"):
            st.caption(f"Started from {st.session_state['decode_source']}.")
        dim = inputs.selectbox("Traversal: dimension", shown, format_func=lambda d: f"z{d}", key="decode_traverse")
        strip = renders.traversal(*cur.key, tuple(z.tolist()), dim, RANGE, 9, 2, label)
        widgets.show_png(strip, caption=f"z{dim} from −3 to +3, others as above")
        download_view.decode_pngs(cur, tuple(z.tolist()), label, dim, strip)
        if names:
            classes_row(live_dec, held if live_dec.ok else z.tolist(), rev)
    # The link's z: what the browser draws (float64), or the server's float32 z in shortest form.
    linked = held if live_dec.ok else [float(np.format_float_positional(v, unique=True)) for v in z]
    urlsync.write("decode", {"z": linked, "c": label}, cur.entry.name)


panel()
