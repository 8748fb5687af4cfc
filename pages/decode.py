"""Decode: one slider per latent dimension; the decoder draws what that point means.

The sliders and the image are live (ui/live.py): the decoder runs in the browser while a
slider is dragged, and z reaches the server on release, which redraws the traversal strip.
When the decoder cannot run in the browser, Streamlit sliders and a server-side image stand in."""
from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from services import validate
from ui import fig_live, inputs, live, renders, state, widgets
from vae import explore

MAX_SLIDERS = 32
RANGE = 3.0
SEED_MAX = 2**31 - 1

widgets.require_entrypoint()
st.header("Decode: move through the latent space")
widgets.explainer(r"""
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
""")

cur = state.current()
if cur is None:
    st.stop()

D = cur.entry.latent_dim
kl = cur.kl_per_dim()
order = explore.dims_by_activity(kl)
shown = order[:MAX_SLIDERS]
model_key = str(cur.entry.path)


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


def _random() -> None:
    gen = state.generator(validate.number(st.session_state.get("decode_seed"), 0, SEED_MAX, 0, integer=True))
    _set_all(torch.randn(D, generator=gen).numpy())


def _from_image() -> None:
    data = state.dataset_or_error(cur)
    if data is None:
        return
    i = validate.number(st.session_state.get("decode_index"), 0, None, 0, integer=True) % len(data)
    mean, _ = explore.encode_images(cur.model, data.float_images(slice(i, i + 1)))
    _set_all(mean[0].numpy())
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


def controls() -> None:
    b1, b2 = st.columns(2)
    b1.button("Reset to 0", on_click=_set_all, args=(np.zeros(D),), use_container_width=True)
    b2.button("Random from prior", on_click=_random, use_container_width=True)
    inputs.number_input("Seed", min_value=0, max_value=SEED_MAX, step=1, key="decode_seed")
    c1, c2 = st.columns([2, 1])
    inputs.number_input("Test image (position in the loaded set)", min_value=0, step=1, key="decode_index", where=c1)
    c2.button("Encode it", on_click=_from_image, use_container_width=True)
    if len(order) > MAX_SLIDERS:
        st.caption(f"Showing the {MAX_SLIDERS} most active of {D} dimensions; the others stay at their "
                   "held values (0, or the encoded image's).")


@st.fragment
def panel() -> None:
    live_dec = live.live_decoder(cur)
    rev = st.session_state.get("decode_rev", 0)
    left, right = st.columns([3, 2], gap="large")
    with right:
        held = st.session_state["decode_hidden"]  # float64, as the browser gets it
        z = np.array(held, dtype=np.float32)
        controls()
        if live_dec.ok:
            live.sliders(live_dec, "decode", held, rev, fig_live.slider_dims(shown, kl), key="decode_live_sliders",
                         on_release=_released, limit=RANGE, step=0.05)
        else:
            for d in shown:
                z[d] = inputs.slider(f"z{d}  (KL {kl[d]:.2f})", -RANGE, RANGE, step=0.05, key=_key(d))
    with left:
        if live_dec.ok:
            live.view(live_dec, "decode", held, rev, key="decode_live_view", size=336,
                      caption="decoded image: drawn in your browser, it follows the sliders as you drag")
        else:
            st.info(f"Live decoding is off for this model: {live_dec.reason}. The image is decoded on the "
                    "server instead, when you release a slider.")
            widgets.show_png(renders.decoded(*cur.key, tuple(z.tolist()), 336), caption="decoded image")
        if st.session_state.get("decode_source"):
            st.caption(f"Started from {st.session_state['decode_source']}.")
        dim = inputs.selectbox("Traversal: dimension", shown, format_func=lambda d: f"z{d}", key="decode_traverse")
        strip = renders.traversal(*cur.key, tuple(z.tolist()), dim, RANGE, 9, 2)
        widgets.show_png(strip, caption=f"z{dim} from −3 to +3, others as above")


panel()
