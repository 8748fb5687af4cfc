"""Train: start a background training job, watch it live, stop/resume it, explore the result."""
from __future__ import annotations

import streamlit as st

from services import validate
from services.jobs import ACTIVE, JobError
from services.uploads import extract_upload
from services.workspace import AccessError, Actor
from ui import inputs, jobs_view, session, state, urlsync, widgets
from vae import settings
from vae.config import CONDITIONAL_ARCHS, ConfigError
from vae.data.base import DatasetUnavailable
from vae.registry import DATASETS, dataset_classes
from vae.runspec import DataSpec, RunSpec

ZIP = "upload a zip of images"

widgets.require_entrypoint()
st.header("Train a model")
urlsync.plain_page("train", extra=("job",))
widgets.explainer(r"""
Training fits the encoder $q(z\mid x)$ and decoder $p(x\mid z)$ together by maximising the ELBO,
i.e. minimising **reconstruction + β · KL** per image:
the **reconstruction** curve falls as the decoder learns to redraw the input from its code; the
**KL** curve measures how far the codes stray from the prior $\mathcal{N}(0, I)$ (it usually rises
at first, as the encoder starts to use the latent space). β > 1 (a β-VAE) presses harder on KL:
blurrier images, but dimensions that tend to follow separate factors. The job runs in its own
process, so you can keep exploring other pages; it keeps running if you close the tab. Each
epoch shows test images, their reconstructions and fresh samples from the prior.
""")

limits = settings.limits()
if limits.jobs_per_workspace == 0:
    st.info("Training is turned off on this server: explore the models on the other pages.")
    st.stop()
who = session.actor()
if who is None:
    st.info("Connecting to your workspace… Your browser keeps it, so your models and jobs stay yours.")
    st.stop()
reg = state.job_registry_or_stop()
shared = validate.job_param(st.query_params.get_all("job"))  # a reload or a shared link


def _dataset_choice() -> tuple[str | None, dict]:
    names = [*DATASETS, ZIP] if limits.uploads_quota_mb else list(DATASETS)
    choice = inputs.selectbox("Dataset", names, index=0, key="train_dataset", on_change=_suggest_name,
                              help="MNIST/Fashion-MNIST use the full data when found, else the shipped "
                                   "2,000-image sample.")
    if choice != ZIP:
        return choice, {}
    up = st.file_uploader("Zip of images (subfolders become labels)", type=["zip"], key="train_zip")
    c1, c2 = st.columns(2)
    channels = inputs.radio("Colour", (1, 3), format_func=lambda c: "grayscale" if c == 1 else "RGB",
                            horizontal=True, where=c1)
    size = inputs.number_input("Image size (pixels per side)", 8, 128, 28, key="train_size", where=c2)
    if up is None:
        return None, {}
    path = extract_upload(up.getvalue())  # once per zip content; later reruns reuse the folder
    return f"folder:{path}", {"channels": int(channels), "size": int(size)}


ARCHS = {"mlp": "mlp", "conv": "conv", "cmlp": "mlp, class-conditional", "cconv": "conv, class-conditional"}


def _with_classes(model: dict, dataset: str) -> dict:
    """A class-conditional model is told its dataset's number of classes (registry datasets only:
    a zip's classes are known once it is loaded, so the command line's --num-classes is the way)."""
    if model["arch"] not in CONDITIONAL_ARCHS:
        return model
    classes = dataset_classes(dataset)
    if classes is None:
        raise ConfigError("A class-conditional model needs one of the listed datasets here; for a zip of "
                          "images use the command line: python -m vae.train --arch cmlp --num-classes K.")
    return {**model, "num_classes": classes}


def _suggested_name() -> str:
    dataset = st.session_state.get("train_dataset", "mnist")
    base = "folder" if dataset == ZIP or dataset not in DATASETS else dataset
    latent = validate.number(st.session_state.get("train_latent", 2), 1, 128, 2, integer=True)
    return f"my-{base}-{latent}d"


def _suggest_name() -> None:
    """Dataset or latent size changed: follow with the suggested name, unless the user typed one."""
    if st.session_state.get("train_name_auto", True):
        st.session_state["train_name"] = _suggested_name()


def _name_edited() -> None:
    st.session_state["train_name_auto"] = False  # the user typed a name: stop suggesting


def _settings() -> tuple[dict, dict]:
    """The model and training widgets: (model fields, training fields), each re-checked."""
    c1, c2, c3 = st.columns(3)
    arch = inputs.selectbox("Architecture", tuple(ARCHS), key="train_arch", where=c1, format_func=ARCHS.get)
    latent = inputs.number_input("Latent dimensions", 1, 128, 2, key="train_latent", on_change=_suggest_name,
                                 where=c2)
    beta = inputs.number_input("β (KL weight)", 0.0, 100.0, 1.0, step=0.5, key="train_beta", where=c3)
    c1, c2, c3, c4 = st.columns(4)
    epochs = inputs.number_input("Epochs", 1, limits.max_epochs, min(2, limits.max_epochs), key="train_epochs",
                                 where=c1)
    lr = inputs.number_input("Learning rate", 1e-6, 1.0, 1e-3, format="%.0e", key="train_lr", where=c2)
    batch = inputs.number_input("Batch size", 1, limits.max_batch_size, min(128, limits.max_batch_size),
                                key="train_batch", where=c3)
    seed = inputs.number_input("Seed", 0, 2**31 - 1, 0, key="train_seed", where=c4)
    st.caption(f"This server allows up to {limits.max_epochs} epochs, batches of up to {limits.max_batch_size} "
               f"and {limits.jobs_per_workspace} queued or running job(s) per person.")
    return ({"arch": arch, "latent_dim": int(latent)},
            {"epochs": int(epochs), "lr": float(lr), "batch_size": int(batch), "beta": float(beta), "seed": int(seed)})


def _form() -> None:
    with st.container(border=True):
        st.subheader("New job")
        try:
            dataset, extra = _dataset_choice()
        except DatasetUnavailable as exc:
            st.error(validate.markdown_escape(f"That zip cannot be used: {exc}"))
            return
        model, train = _settings()
        st.session_state.setdefault("train_name", _suggested_name())
        name = st.text_input("Model name", key="train_name", on_change=_name_edited, max_chars=64)
        overwrite = st.checkbox("Replace an existing model of the same name", key="train_overwrite",
                                help="Only one of your own models can be replaced.")
        if st.button("Start training", type="primary", key="train_start"):
            _submit(who, name, overwrite, dataset, extra, model, train)


def _submit(actor: Actor, name: str, overwrite: bool, dataset: str | None, extra: dict, model: dict,
            train: dict) -> None:
    """Queue a job training ``model`` on ``dataset`` (with ``extra`` DataSpec fields for a zip).
    Jobs train on the CPU with one thread, beside the app's own requests; the registry checks
    every limit and who may write which name."""
    if dataset is None:
        st.error("Upload a zip of images first.")
        return
    try:
        data = DataSpec(name=dataset, allow_sample=True, **extra)
        spec = RunSpec.create(data, model=_with_classes(model, dataset), train=train, threads=1, device="cpu")
        job_id = reg.submit(name.strip(), spec, actor=actor, overwrite=overwrite)
    except (ConfigError, JobError, AccessError) as exc:
        st.error(validate.markdown_escape(str(exc)))
        return
    st.query_params["job"] = job_id


def _jobs(was_active: bool) -> None:
    jobs_view.job_list(reg, who, validate.job_param(st.query_params.get_all("job")), was_active)


_form()
known = reg.list(actor=who)
if known:
    active = any(j.state in ACTIVE for j in known)
    st.fragment(run_every=1.0 if active else None)(_jobs)(active)
if shared is not None and shared not in {j.id for j in known}:
    st.divider()
    try:  # someone else's job from a shared link: a read-only view, live while it trains
        other = reg.status(shared)
    except JobError:
        st.warning(f"Job {shared} is not known to this server (finished jobs are cleaned up after a while).")
    else:
        st.fragment(run_every=1.0 if other.state in ACTIVE else None)(jobs_view.panel)(reg, shared, who)
