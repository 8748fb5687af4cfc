"""Process-wide caches and the current model, shared by every page.

Heavy objects (models, datasets) live in ``st.cache_resource`` keyed by path and
modification time, so a retrained checkpoint is picked up; encoded datasets live in
``st.cache_data``. Nothing here does model math: it calls the ``vae`` library.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from services import backends, validate
from services.backends import BackendError
from services.catalog import DEFAULT_MODEL, ModelEntry, list_models, model_roots
from services.jobs import JobRegistry
from services.redact import redact_paths
from services.workspace import Actor
from ui import fig_latent_map, fig_live, inputs, session, warm, widgets
from vae import explore, ood, settings
from vae.checkpoint import Checkpoint, CheckpointError, load
from vae.data.base import DatasetUnavailable, ImageData
from vae.plane import LatentPlane
from vae.registry import load_dataset

MAP_LOW, MAP_HIGH = 0.05, 0.95  # the manifold grid's prior probabilities: Phi^-1 = -1.64 .. 1.64
PAD_POINTS = 2000  # test images drawn as dots on the latent pad
REAP_AFTER_S = 6 * 3600  # finished jobs are forgotten (and their folders removed) after this
MODEL_KEY = "model_path"
PICKER_KEY = "model_picker"


@st.cache_resource(show_spinner=False, max_entries=8)
def load_checkpoint(path: str, mtime: float) -> Checkpoint:
    """The model at ``path`` in eval mode; ``mtime`` keys the cache so a new save reloads."""
    del mtime
    return load(path)


@st.cache_resource(show_spinner=False, max_entries=6)
def load_data(dataset: str, split: str = "test") -> ImageData:
    """The dataset split (full when available, else the shipped sample), shared read-only."""
    return load_dataset(dataset, split)


@st.cache_data(show_spinner=False, max_entries=16)
def encoded(path: str, mtime: float, dataset: str) -> dict[str, np.ndarray]:
    """Posterior means/log-variances of the dataset's test split under the model at ``path``."""
    enc = explore.encode_dataset(load_checkpoint(path, mtime).model, load_data(dataset))
    return {"mean": enc.mean.numpy(), "logvar": enc.logvar.numpy(), "labels": enc.labels.numpy(),
            "ids": enc.ids.numpy()}


@st.cache_resource(show_spinner=False, max_entries=16)
def latent_plane(path: str, mtime: float, dataset: str) -> LatentPlane:
    """The Latent map's plane for the model at ``path`` (D >= 2), fitted to its encoded test set;
    once per model version (``mtime``), shared read-only."""
    return LatentPlane.fit(torch.from_numpy(encoded(path, mtime, dataset)["mean"]))


@st.cache_data(show_spinner=False, max_entries=16)
def plane_points(path: str, mtime: float, dataset: str) -> np.ndarray:
    """(N, 2) coordinates of the encoded test set on the Latent map's plane."""
    return latent_plane(path, mtime, dataset).coords(encoded(path, mtime, dataset)["mean"]).numpy()


@st.cache_data(show_spinner=False, max_entries=16)
def pad_background(path: str, mtime: float, dataset: str, low: float, high: float, k: int) -> dict:
    """The latent pad's background (:func:`ui.fig_live.pad_payload`): ``k`` of the plane points
    (drawn with seed 0), the grid box between prior probabilities ``low`` and ``high``."""
    plane = latent_plane(path, mtime, dataset)
    return fig_live.pad_payload(plane_points(path, mtime, dataset), encoded(path, mtime, dataset)["labels"],
                                generator(0), plane.axis_names, box=plane.box(low, high), k=k)


@st.cache_resource(show_spinner=False, max_entries=16)
def map_spec(path: str, mtime: float, dataset: str, box: bool) -> dict:
    """The Latent map's base figure (every test image as a dot; the manifold grid's box when
    ``box``) as a Plotly spec, built once per model version and shared read-only: pages draw it
    with :func:`ui.figures.with_overlays`, which never modifies it."""
    plane = latent_plane(path, mtime, dataset)
    enc = encoded(path, mtime, dataset)
    return fig_latent_map.map_spec(plane_points(path, mtime, dataset), enc["labels"], enc["ids"],
                                   load_data(dataset).classes, plane.axis_titles,
                                   grid_box=plane.box(MAP_LOW, MAP_HIGH) if box else None)


REFERENCE_IMAGES = 2000  # test images behind the anomaly percentile (resolution 0.05%)


@st.cache_data(show_spinner=False, max_entries=16)
def test_neg_elbos(path: str, mtime: float, dataset: str, limit: int = REFERENCE_IMAGES,
                   seed: int = 0) -> np.ndarray:
    """(n,) -ELBO in nats of the first ``limit`` test images under the model at ``path``;
    computed once per model version (``mtime``) with a fixed seed."""
    model = load_checkpoint(path, mtime).model
    return explore.neg_elbo_dataset(model, load_data(dataset), generator(seed), limit=limit).numpy()


@st.cache_data(show_spinner=False, max_entries=16)
def test_anomaly_scores(path: str, mtime: float, dataset: str, limit: int = REFERENCE_IMAGES,
                        seed: int = 0) -> np.ndarray:
    """(n,) anomaly scores (:func:`vae.ood.score`: −ELBO minus the image's own complexity) of the
    same test images as :func:`test_neg_elbos`, from its cached −ELBOs; once per model version."""
    model, data = load_checkpoint(path, mtime).model, load_data(dataset)
    neg_elbos = test_neg_elbos(path, mtime, dataset, limit, seed)
    return neg_elbos - ood.complexity(model, data.float_images(slice(0, len(neg_elbos)))).numpy()


@st.cache_data(show_spinner=False, max_entries=64)
def _catalog(user_dir: str, workspace_id: str | None, has_own: bool,
             mtimes: tuple[float, ...]) -> tuple[list[ModelEntry], list[str]]:
    del mtimes  # cache key only
    who = Actor(workspace=workspace_id) if has_own else None
    return list_models(user_dir=Path(user_dir), actor=who)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def catalog() -> tuple[list[ModelEntry], list[str]]:
    """The models this session may use: shipped, the class's and its own. Cached by the folders'
    modification times: a checkpoint saved, replaced or deleted (always a rename in the folder)
    shows at the next rerun. Problem lines carry folder names, never server paths."""
    who = session.actor()
    user = settings.user_models_dir()
    mtimes = tuple(_mtime(root) for root, _ in model_roots(who, user_dir=user))
    entries, problems = _catalog(str(user), who.workspace if who else None, who is not None, mtimes)
    for e in entries:  # a model version seen for the first time is warmed in the background
        warm.request(str(e.path), e.mtime, e.dataset, e.latent_dim)
    return entries, [redact_paths(p) for p in problems]


@dataclass
class Current:
    """What a page works on: the catalog entry, the loaded checkpoint and its test data."""

    entry: ModelEntry
    ckpt: Checkpoint

    @property
    def model(self):
        return self.ckpt.model

    @property
    def key(self) -> tuple[str, float]:
        return (str(self.entry.path), self.entry.mtime)

    def data(self) -> ImageData:
        return load_data(self.entry.dataset)

    def encoded(self) -> dict[str, np.ndarray]:
        return encoded(str(self.entry.path), self.entry.mtime, self.entry.dataset)

    def plane(self) -> LatentPlane:
        """The Latent map's plane (:func:`latent_plane`); needs a latent dim of at least 2."""
        return latent_plane(str(self.entry.path), self.entry.mtime, self.entry.dataset)

    @property
    def num_classes(self) -> int:
        """Classes a conditional model draws (its decoder takes one); 0 when unconditional."""
        return int(getattr(self.ckpt.config, "num_classes", 0) or 0)

    def class_names(self) -> list[str]:
        """The names of the model's classes (the dataset's, e.g. "0".."9"; "class k" when the
        dataset cannot be read or lists another number); [] for an unconditional model. Names
        from an image folder (its subfolders) are escaped for Markdown."""
        k = self.num_classes
        if not k:
            return []
        try:
            names = [str(c) for c in self.data().classes]
        except DatasetUnavailable:
            names = []
        if self.entry.dataset.startswith("folder:"):
            names = [widgets.safe_text(c, 40) for c in names]
        return names if len(names) == k else [f"class {i}" for i in range(k)]

    def kl_per_dim(self) -> list[float]:
        """Mean KL per latent dimension on the test set: from metrics.json, else the last
        epoch's test evaluation, else zeros."""
        metrics = self.ckpt.metrics or {}
        if metrics.get("kl_per_dim"):
            return metrics["kl_per_dim"]
        for epoch in reversed(self.ckpt.training.get("history", [])):
            if (epoch.get("test") or {}).get("kl_per_dim"):
                return epoch["test"]["kl_per_dim"]
        return [0.0] * self.entry.latent_dim


def _resolve(entries: list[ModelEntry]) -> ModelEntry:
    """The session's model: its last choice (a path the catalog lists for this session), else
    ``?model=NAME`` (a name it lists: shipped names come first), else the default model."""
    by_path = {str(e.path): e for e in entries}
    by_name: dict[str, ModelEntry] = {}
    for e in entries:
        by_name.setdefault(e.name, e)
    chosen = st.session_state.get(MODEL_KEY)
    if isinstance(chosen, str) and chosen in by_path:
        return by_path[chosen]
    wanted = validate.model_param(st.query_params.get_all("model"), by_name)
    if wanted is not None:
        return by_name[wanted]
    return by_name.get(DEFAULT_MODEL, entries[0])


def _picked() -> None:
    st.session_state[MODEL_KEY] = st.session_state[PICKER_KEY]


def model_picker() -> ModelEntry | None:
    """Sidebar selectbox over shipped and user models; the choice lives in the session under
    ``MODEL_KEY`` (a plain key, so it survives runs in which the picker is not drawn)."""
    entries, problems = catalog()
    if not entries:
        st.sidebar.error("No models found. Train one with `python -m vae.train` or on the Train page.")
        return None
    paths = [str(e.path) for e in entries]
    labels = {str(e.path): e.label for e in entries}
    st.session_state[PICKER_KEY] = str(_resolve(entries).path)
    choice = inputs.selectbox("Model", paths, index=paths.index(st.session_state[PICKER_KEY]), key=PICKER_KEY,
                              format_func=labels.__getitem__, on_change=_picked, where=st.sidebar)
    st.session_state[MODEL_KEY] = choice
    for line in problems:
        st.sidebar.warning(f"Skipped a model folder: {line}")
    return entries[paths.index(choice)]


def current_name() -> str | None:
    """The name of the session's model as :func:`current` resolves it, without loading it (for
    links); None when there are no models."""
    entries, _ = catalog()
    return _resolve(entries).name if entries else None


def current() -> Current | None:
    """The session's model, loaded; shows an error and returns None when it cannot be."""
    entries, _ = catalog()
    if not entries:
        st.error("No models found. Train one with `python -m vae.train` or on the Train page.")
        return None
    entry = _resolve(entries)
    st.session_state[MODEL_KEY] = str(entry.path)
    try:
        return Current(entry, load_checkpoint(str(entry.path), entry.mtime))
    except CheckpointError as exc:
        st.error(f"This model cannot be loaded: {widgets.safe_text(exc, 600)}")
        return None


def dataset_or_error(cur: Current) -> ImageData | None:
    try:
        return cur.data()
    except DatasetUnavailable as exc:
        st.error(widgets.safe_text(exc, 1000))
        return None


def generator(seed: int) -> torch.Generator:
    """A fresh generator for one request: randomness never touches global state."""
    return torch.Generator().manual_seed(int(seed))


@st.cache_resource(show_spinner=False)
def _registry(jobs_root: str, models_root: str, max_running: int, backend: str, ray_address: str) -> JobRegistry:
    chosen = backends.RayBackend(ray_address) if backend == "ray" else backends.LocalBackend()
    return JobRegistry(Path(jobs_root), Path(models_root), max_running=max_running, reap_after_s=REAP_AFTER_S,
                       backend=chosen)


def job_registry() -> JobRegistry:
    """The process-wide job registry (one per server, shared by every session; any number of
    replicas share its jobs folder)."""
    return _registry(str(settings.jobs_dir()), str(settings.user_models_dir()), settings.max_jobs(),
                     settings.jobs_backend(), settings.ray_address())


def job_registry_or_stop() -> JobRegistry:
    """:func:`job_registry`, or stop the page saying why training is unavailable (a bad setting,
    the Ray backend chosen without ray installed)."""
    try:
        return job_registry()
    except (BackendError, settings.SettingsError) as exc:
        st.error(f"Training is unavailable on this server: {widgets.safe_text(exc, 600)}")
        st.stop()



def require_model_and_data() -> tuple[Current, ImageData]:
    """The session's model and its test data, or stop the page (after an error saying why)."""
    cur = current()
    data = dataset_or_error(cur) if cur is not None else None
    if cur is None or data is None:
        st.stop()
    return cur, data
