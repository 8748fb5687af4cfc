"""Neighbours & arithmetic: the test images whose codes lie nearest a query image's code, and
attribute vectors (differences of mean codes) added to the query's code with a strength slider."""
from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from services import validate
from ui import fig_latent_map as fm
from ui import fig_neighbours as fn
from ui import inputs, live, renders, state, urlsync, widgets
from vae import explore
from vae import neighbours as nb

TEST, RANDOM, MAP, UPLOAD = "Test image", "Random test image", "Latent map selection", "Upload"
SOURCES = (TEST, RANDOM, MAP, UPLOAD)
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif"]
METRICS = {"euclidean": "Euclidean", "cosine": "Cosine"}
CLASSES, INK, SETS = "Class → class", "More ink (thickness)", "Two sets"
MODES = (CLASSES, INK, SETS)
MAP_SELECTION = "latent_map_selected"  # where pages/latent_map.py keeps its selection: (model path, ids)
S_LOW, S_HIGH = -2.0, 3.0
COLUMNS = 6
SEED_MAX = 2**31 - 1

widgets.require_entrypoint()
st.header("Neighbours & arithmetic: what is near, and which way is “thicker”")
urlsync.plain_page("neighbours")
cur, data = state.require_model_and_data()
model_key, dataset = str(cur.entry.path), cur.entry.dataset
conditional = int(getattr(cur.ckpt.config, "num_classes", 0) or 0) > 0
with st.spinner("Encoding the test set (once per model)…"):
    enc = cur.encoded()
means = enc["mean"]  # (N, D) posterior means of the test set
if len(means) < 2:
    st.error(f"The test set of {cur.entry.dataset_label} has {len(means)} image(s); neighbours need at least 2.")
    st.stop()


def _class_name(c: int) -> str:
    return str(data.classes[c]) if 0 <= c < len(data.classes) else str(c)


def _kw(label: int | None) -> dict:
    """The class argument for the library: only a conditional model takes one."""
    return {"labels": label} if conditional else {}


@st.cache_data(show_spinner=False, max_entries=128)
def _encode_upload(path: str, mtime: float, key: str, _x: torch.Tensor, label: int | None) -> np.ndarray:
    """(D,) posterior mean of one prepared upload ``_x`` (1, C, H, W), identified by ``key``."""
    mean, _ = explore.encode_images(state.load_checkpoint(path, mtime).model, _x, **_kw(label))
    return mean[0].numpy()


@st.cache_data(show_spinner=False, max_entries=256)
def _neighbours(path: str, mtime: float, dataset: str, z: tuple[float, ...], k: int, metric: str,
                exclude: tuple[int, ...]) -> tuple[list[int], list[float]]:
    """Positions and distances of the ``k`` test codes nearest ``z`` (D,) (:func:`vae.neighbours.nearest`)."""
    codes = torch.from_numpy(state.encoded(path, mtime, dataset)["mean"])
    idx, dist = nb.nearest(torch.tensor(z, dtype=torch.float64), codes, k, metric, exclude=exclude)
    return idx.tolist(), dist.tolist()


@st.cache_data(show_spinner=False, max_entries=256)
def _vector(path: str, mtime: float, dataset: str, mode: str, a: tuple, b: tuple) -> np.ndarray:
    """(D,) attribute vector: class ``a[0]`` → ``b[0]`` (CLASSES); thin → thick (INK); or set A →
    set B, each ("classes", (c, ...)) or ("images", (position, ...)) (SETS)."""
    enc_ = state.encoded(path, mtime, dataset)
    codes, labels = torch.from_numpy(enc_["mean"]), torch.from_numpy(enc_["labels"])
    if mode == CLASSES:
        return nb.attribute_vector(codes, labels, a[0], b[0]).numpy()
    if mode == INK:
        thin, thick = nb.ink_sets(state.load_data(dataset).images, labels)
        return nb.attribute_vector_from_sets(codes, thin, thick).numpy()

    def positions(spec: tuple) -> torch.Tensor:
        kind, values = spec
        if kind == "classes":
            return torch.nonzero(torch.isin(labels, torch.tensor(values, dtype=torch.int64))).reshape(-1)
        return torch.tensor(values, dtype=torch.int64)
    return nb.attribute_vector_from_sets(codes, positions(a), positions(b)).numpy()


@st.cache_data(show_spinner=False, max_entries=256)
def _strip(path: str, mtime: float, z: tuple[float, ...], v: tuple[float, ...], strengths: tuple[float, ...],
           label: int | None) -> bytes:
    """One strip: z + s v decoded for each s of ``strengths`` (drawn as class ``label`` by a
    conditional model), 3x upscaled."""
    codes = nb.apply_attribute(torch.tensor(z), torch.tensor(v), torch.tensor(strengths))
    return fn.strip_png(explore.decode(state.load_checkpoint(path, mtime).model, codes, **_kw(label)), 3)


def _test_query(i: int, origin: str) -> dict:
    """The test image at position ``i`` as the query: its code comes from the cached encodings."""
    i = int(i) % len(data)
    label = int(data.labels[i])
    return {"x": data.float_images(slice(i, i + 1))[0], "z": means[i], "label": label, "pos": i,
            "key": f"{dataset}:{len(data)}:{i}", "caption": f"{origin} #{int(data.ids[i])} ({_class_name(label)})"}


def _map_query() -> dict | None:
    saved = st.session_state.get(MAP_SELECTION)
    ids = list(saved[1]) if isinstance(saved, tuple | list) and len(saved) == 2 and saved[0] == model_key else []
    pos = fm.positions_of([i for i in ids if isinstance(i, int | np.integer)], data.ids.numpy())
    if not len(pos):
        st.info("Nothing is selected on the Latent map for this model. Click a point there (or lasso some), "
                "then come back: the first selected image becomes the query.")
        return None
    return _test_query(int(pos[0]), "Latent map selection: test image")


def _upload_query() -> dict | None:
    file = st.file_uploader("Image file (PNG, JPEG, WebP, BMP or GIF; up to 5 MB)", type=UPLOAD_TYPES,
                            key="nb_upload")
    label = None
    if conditional:
        label = inputs.selectbox("Your image shows", range(len(data.classes)), format_func=_class_name,
                                 key=f"nb_upload_class_{dataset}",
                                 help="This model is conditional: it encodes an image together with its class.")
    if file is None:
        st.info("Upload an image (a digit drawn dark on light paper works); it is prepared the MNIST way, as on "
                "the Reconstruct page.")
        return None
    prepared = widgets.prepared_upload(file.getvalue(), cur.ckpt.config.image_shape, dataset)
    if prepared is None:
        return None
    x = prepared.tensor
    key = renders.digest(x)
    z = _encode_upload(*cur.key, key, x, label)
    name = widgets.safe_text(file.name, 80)
    return {"x": x[0], "z": z, "label": label, "pos": None, "key": f"upload:{key}",
            "caption": f"your file {name}" + (f" (as {_class_name(label)})" if label is not None else "")}


def query_panel() -> dict | None:
    """The query's widgets; returns the query (image, code, class, position) or None."""
    source = inputs.radio("Query image", SOURCES, horizontal=True, key="nb_source")
    if source == TEST:
        i = inputs.number_input(f"Test image (position in the loaded set, 0 to {len(data) - 1})", min_value=0,
                                max_value=len(data) - 1, value=min(4, len(data) - 1), step=1, key="nb_index",
                                help="Position 4 of the MNIST test set is a 4: try “Class → class” from 4 to 9 below.")
        return _test_query(int(i), "test image")
    if source == RANDOM:
        seed = inputs.number_input("Seed", min_value=0, max_value=SEED_MAX, step=1, key="nb_seed",
                                   help="The same seed picks the same test image.")
        i = int(torch.randint(len(data), (1,), generator=state.generator(int(seed))))
        return _test_query(i, f"random (seed {int(seed)}) test image")
    if source == MAP:
        return _map_query()
    return _upload_query()


@st.fragment
def neighbours_panel(q: dict) -> None:
    """The k nearest test images of the query's code, as a labelled grid (a fragment: k and the
    metric rerun only this part)."""
    c1, c2 = st.columns(2)
    k = inputs.slider("Neighbours (k)", 1, min(24, len(means) - 1), 8, key="nb_k", where=c1)
    metric = inputs.radio("Distance", list(METRICS), format_func=METRICS.__getitem__, horizontal=True,
                          key="nb_metric", where=c2)
    exclude = () if q["pos"] is None else (q["pos"],)
    try:
        idx, dist = _neighbours(*cur.key, dataset, tuple(float(v) for v in q["z"]), int(k), metric, exclude)
    except ValueError as exc:
        st.error(f"No neighbours to show: {exc}.")
        return
    for start in range(0, len(idx), COLUMNS):
        cols = st.columns(COLUMNS)
        for col, rank in zip(cols, range(start, min(start + COLUMNS, len(idx)))):
            pos = idx[rank]
            png = renders.image(f"{dataset}:{len(data)}:{pos}", data.float_images(slice(pos, pos + 1))[0], 84)
            with col:
                widgets.show_png(png, caption=fn.neighbour_caption(rank + 1, int(data.ids[pos]),
                                                                   _class_name(int(data.labels[pos])), dist[rank]))
    same = sum(int(data.labels[i]) == q["label"] for i in idx) if q["label"] is not None else None
    note = f" {same} of {len(idx)} share the query's label." if same is not None and q["pos"] is not None else ""
    st.caption(f"The {len(idx)} test images whose codes are nearest the query's, nearest first; d is the "
               f"{METRICS[metric]} distance between posterior means.{note}"
               + (" The query itself (distance 0) is left out." if exclude else ""))


query_expl = r"""
The **encoder** maps every image $x$ to a posterior $q(z\mid x) = \mathcal{N}(\mu(x),
\mathrm{diag}\,\sigma^2(x))$; here each image is represented by its mean code $\mu(x)$. The
**neighbours** are the test images whose codes are closest to the query's:

- **Euclidean**: $d(q, m) = \lVert q - m \rVert_2$: position and length both count.
- **Cosine**: $d(q, m) = 1 - \dfrac{q \cdot m}{\lVert q\rVert\,\lVert m\rVert}$, from 0 (same direction)
  to 2 (opposite): only the direction counts, not how far from the origin the code is.

If the latent space is well organised, neighbours look alike: same digit, similar slant and
thickness, although the model never saw a label (a conditional model did see them: its codes
carry style only, so its neighbours share a style more than a class). Ties are broken by the
lower test position, so the grid is the same every time.

With a **2-D** latent space cosine keeps only the angle of the code around the origin: images
in the same direction but at different distances count as equal, so its neighbours are much
less alike than Euclid's (on `mnist-2d`, 36% vs 73% of the 8 nearest share the query's label).
With 20 dimensions the two agree (91% each on `mnist-20d`).
"""
st.subheader("1. A query image and its nearest neighbours in latent space")
widgets.explainer(query_expl)
left, right = st.columns([1, 3], gap="large")
with left:
    query = query_panel()
    if query is not None:
        widgets.show_png(renders.image(query["key"], query["x"], 168), caption=query["caption"])
if query is None:
    st.stop()
with right:
    neighbours_panel(query)


def _map_set(side: str) -> tuple[int, ...] | None:
    """The Latent map selection taken as set ``side`` for this model, or None."""
    saved = st.session_state.get(f"nb_set_{side}")
    return tuple(saved[1]) if isinstance(saved, tuple) and len(saved) == 2 and saved[0] == model_key else None


def _take_map(side: str, positions: tuple[int, ...]) -> None:
    st.session_state[f"nb_set_{side}"] = (model_key, positions)


def _drop_map(side: str) -> None:
    st.session_state.pop(f"nb_set_{side}", None)


def _one_set(side: str, title: str, where) -> tuple | None:
    """One of the two sets: the Latent map selection taken for it, else the classes chosen."""
    with where:
        st.markdown(f"**{title}**")
        taken = _map_set(side)
        if taken is not None:
            st.caption(f"{len(taken)} image(s) selected on the Latent map.")
            st.button("Use classes instead", key=f"nb_drop_{side}", on_click=_drop_map, args=(side,))
            return ("images", taken)
        chosen = inputs.multiselect("Classes", range(len(data.classes)), format_func=_class_name,
                                    key=f"nb_set_{side}_classes_{dataset}")
        saved = st.session_state.get(MAP_SELECTION)
        ids = list(saved[1]) if isinstance(saved, tuple | list) and len(saved) == 2 and saved[0] == model_key else []
        pos = fm.positions_of([i for i in ids if isinstance(i, int | np.integer)], data.ids.numpy())
        if len(pos):
            st.button(f"Use the Latent map's selection ({len(pos)} images)", key=f"nb_take_{side}",
                      on_click=_take_map, args=(side, tuple(int(p) for p in pos)))
        return ("classes", tuple(chosen)) if chosen else None


def vector_panel(q: dict) -> tuple[np.ndarray, str, int | None] | None:
    """The attribute vector's widgets; returns v (D,), a description, and the class to draw."""
    mode = inputs.radio("Attribute vector v", MODES, horizontal=True, key="nb_mode")
    label = q["label"]
    if mode == CLASSES:
        k = len(data.classes)
        c1, c2 = st.columns(2)
        fr = inputs.selectbox("From class", range(k), index=min(4, k - 1), format_func=_class_name,
                              key=f"nb_from_{dataset}", where=c1)
        to = inputs.selectbox("To class", range(k), index=min(9, k - 1), format_func=_class_name,
                              key=f"nb_to_{dataset}", where=c2)
        a, b = (fr,), (to,)
        desc = f"mean code of class {_class_name(to)} − mean code of class {_class_name(fr)}"
        label = to if conditional else label
    elif mode == INK:
        a = b = ()
        desc = ("mean code of the 10% inkiest images of each class − mean code of the 10% least inky "
                "(ink = mean pixel brightness: thicker or larger strokes)")
    else:
        c1, c2 = st.columns(2)
        a, b = _one_set("a", "Set A (from)", c1), _one_set("b", "Set B (to)", c2)
        if a is None or b is None:
            st.info("Choose at least one class for each set, or lasso images on the Latent map and take its "
                    "selection here.")
            return None
        desc = "mean code of set B − mean code of set A"
    try:
        v = _vector(*cur.key, dataset, mode, a, b)
    except ValueError as exc:
        st.error(f"No attribute vector: {exc}.")
        return None
    return v, desc, label


LIVE_S_KEY = "nb_live_strength"


def _release_s(value: object) -> None:
    """The live strength slider was let go at ``value`` (t in [0, 1], re-checked): the strength slider follows."""
    t = validate.unit_fraction(value)
    if t is not None:
        st.session_state["nb_strength"] = round(S_LOW + t * (S_HIGH - S_LOW), 1)


def _live_strength(z0: torch.Tensor, v: np.ndarray, s: float, label: int | None) -> None:
    """z + s·v for s from S_LOW to S_HIGH as a live path (decoded in the browser while dragged)."""
    dec = live.live_decoder(cur)
    if not dec.ok:
        return
    vec = torch.from_numpy(v).to(torch.float32)
    ends = [(z0 + S_LOW * vec).tolist(), (z0 + S_HIGH * vec).tolist()]
    rev = abs(hash((round(float(s), 3), tuple(ends[0]), tuple(ends[1])))) % 2**31
    live.path(dec, LIVE_S_KEY, ends[0], ends[1], "linear", (float(s) - S_LOW) / (S_HIGH - S_LOW), rev, _release_s,
              label=label, channel="nb", size=196, slider_label="Drag the strength: decoded in your browser",
              caption=f"z + s·v, {{t}} of the way from s = {S_LOW:g} to s = +{S_HIGH:g}")


@st.fragment
def strength_panel(q: dict, v: np.ndarray, desc: str, label: int | None) -> None:
    """The query's code moved along v by the strength slider, decoded; a strip of strengths."""
    s = inputs.slider("Strength s", S_LOW, S_HIGH, 1.0, step=0.1, key="nb_strength")
    z0 = torch.as_tensor(q["z"], dtype=torch.float32)
    moved = nb.apply_attribute(z0, torch.from_numpy(v), float(s))
    extra = {"label": label} if conditional else {}
    c1, c2 = st.columns(2)
    with c1:
        widgets.show_png(renders.decoded(*cur.key, tuple(z0.tolist()), 196, **extra), caption="decoded z (s = 0)")
    with c2:
        widgets.show_png(renders.decoded(*cur.key, tuple(moved.tolist()), 196, **extra),
                         caption=f"decoded z + {float(s):.1f}·v")
    _live_strength(z0, v, float(s), label)
    strip = _strip(*cur.key, tuple(z0.tolist()), tuple(float(x) for x in v), fn.STRIP_STRENGTHS, label)
    widgets.show_png(strip, caption=f"z + s·v for {fn.strength_text(fn.STRIP_STRENGTHS)}")
    st.caption(f"v = {desc}. {fn.vector_text(v, z0.numpy())}.")
    means_by_class = nb.class_means(torch.from_numpy(means), torch.from_numpy(enc["labels"]), len(data.classes))
    near = fn.nearest_class(moved.numpy(), means_by_class.numpy())
    if near is not None and not conditional:
        st.caption(f"At s = {float(s):.1f} the code is nearest the mean code of class {_class_name(near)}.")


arith_expl = r"""
An **attribute vector** is the difference of two mean codes,
$$v = \frac{1}{|B|}\sum_{x \in B} \mu(x) \;-\; \frac{1}{|A|}\sum_{x \in A} \mu(x),$$
the average step from "A-ness" to "B-ness" (White 2016, *Sampling Generative Networks*; the same
idea as word-vector analogies). Adding it to the query's code with a **strength** $s$,
$z' = z + s\,v$, and decoding $z'$ asks the decoder: "this image, but more B". $s = 0$ is the
query's own reconstruction, $s = 1$ one average step, negative $s$ goes the other way.

- **Class → class**: A and B are all test images of two classes (e.g. 4 → 9).
- **More ink (thickness)**: a simple, honest stand-in for stroke thickness. The "ink" of an
  image is its mean pixel brightness; within each class we take the 10% of images with the most
  ink (B) and the 10% with the least (A). Per class, so that the vector is not "zeros minus
  ones" (a 1 has little ink, a 0 a lot). Ink also grows with size and width, not only thickness.
- **Two sets**: any classes you choose, or images you selected (clicked or lassoed) on the Latent
  map, for A and B.

Not every direction means something everywhere: a long step can leave the region the decoder
knows, and the result stops looking like anything.
"""
st.subheader("2. Attribute arithmetic: move the query's code along a direction")
widgets.explainer(arith_expl)
if conditional:
    st.info("This model is **conditional**: the class is an input of its own, so class arithmetic is done by "
            "the class picker. Here the image is drawn as the query's class, or, for Class → class, as the "
            "“to” class; the attribute vector (a difference of codes) carries style only.")
picked = vector_panel(query)
if picked is not None:
    strength_panel(query, *picked)
