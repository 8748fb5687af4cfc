"""Train: start a background training job, watch it live, stop/resume it, explore the result."""
from __future__ import annotations

import hashlib

import streamlit as st

from services.jobs import ACTIVE, JobError
from ui import fig_train, state, widgets
from vae import settings
from vae.config import ConfigError
from vae.data.base import DatasetUnavailable
from vae.data.folder import extract_zip
from vae.registry import DATASETS
from vae.runspec import DataSpec, RunSpec

ZIP = "upload a zip of images"

widgets.require_entrypoint()
st.header("Train a model")
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

reg = state.job_registry()
mine: list[str] = st.session_state.setdefault("my_jobs", [])
if st.query_params.get("job") and st.query_params["job"] not in mine:
    mine.append(st.query_params["job"])  # a reload or a shared link: the URL remembers the job


def _dataset_choice() -> tuple[str | None, dict]:
    names = [*DATASETS, ZIP]
    choice = st.selectbox("Dataset", names, index=0, key="train_dataset", on_change=_suggest_name,
                          help="MNIST/Fashion-MNIST use the full data when found, else the shipped 2,000-image sample.")
    if choice != ZIP:
        return choice, {}
    up = st.file_uploader("Zip of images (subfolders become labels)", type=["zip"], key="train_zip")
    c1, c2 = st.columns(2)
    channels = c1.radio("Colour", (1, 3), format_func=lambda c: "grayscale" if c == 1 else "RGB", horizontal=True)
    size = c2.number_input("Image size (pixels per side)", 8, 128, 28, key="train_size")
    if up is None:
        return None, {}
    digest = hashlib.sha256(up.getvalue()).hexdigest()[:16]
    path = extract_zip(up.getvalue(), settings.uploads_dir() / f"zip-{digest}")
    return f"folder:{path}", {"channels": int(channels), "size": int(size)}


def _suggested_name() -> str:
    dataset = st.session_state.get("train_dataset", "mnist")
    base = "folder" if dataset == ZIP else dataset
    return f"my-{base}-{st.session_state.get('train_latent', 2)}d"


def _suggest_name() -> None:
    """Dataset or latent size changed: follow with the suggested name, unless the user typed one."""
    if st.session_state.get("train_name_auto", True):
        st.session_state["train_name"] = _suggested_name()


def _name_edited() -> None:
    st.session_state["train_name_auto"] = False  # the user typed a name: stop suggesting


def _form() -> None:
    with st.container(border=True):
        st.subheader("New job")
        try:
            dataset, extra = _dataset_choice()
        except DatasetUnavailable as exc:
            st.error(f"That zip cannot be used: {exc}")
            return
        c1, c2, c3 = st.columns(3)
        arch = c1.selectbox("Architecture", ("mlp", "conv"), key="train_arch")
        latent = c2.number_input("Latent dimensions", 1, 128, 2, key="train_latent", on_change=_suggest_name)
        beta = c3.number_input("β (KL weight)", 0.0, 100.0, 1.0, step=0.5, key="train_beta")
        c1, c2, c3, c4 = st.columns(4)
        epochs = c1.number_input("Epochs", 1, 500, 2, key="train_epochs")
        lr = c2.number_input("Learning rate", 1e-6, 1.0, 1e-3, format="%.0e", key="train_lr")
        batch = c3.number_input("Batch size", 1, 4096, 128, key="train_batch")
        seed = c4.number_input("Seed", 0, 2**31 - 1, 0, key="train_seed")
        st.session_state.setdefault("train_name", _suggested_name())
        name = st.text_input("Model name", key="train_name", on_change=_name_edited)
        overwrite = st.checkbox("Replace an existing model of the same name", key="train_overwrite")
        if st.button("Start training", type="primary", key="train_start"):
            model = {"arch": arch, "latent_dim": int(latent)}
            train = {"epochs": int(epochs), "lr": float(lr), "batch_size": int(batch), "beta": float(beta),
                     "seed": int(seed)}
            _submit(name, overwrite, dataset, extra, model, train)


def _submit(name: str, overwrite: bool, dataset: str | None, extra: dict, model: dict, train: dict) -> None:
    """Queue a job training ``model`` on ``dataset`` (with ``extra`` DataSpec fields for a zip).
    Jobs train on the CPU with one thread, beside the app's own requests."""
    if dataset is None:
        st.error("Upload a zip of images first.")
        return
    try:
        data = DataSpec(name=dataset, allow_sample=True, **extra)
        spec = RunSpec.create(data, model=model, train=train, threads=1, device="cpu")
        job_id = reg.submit(name.strip(), spec, overwrite=overwrite)
    except (ConfigError, JobError) as exc:
        st.error(str(exc))
        return
    mine.append(job_id)
    st.query_params["job"] = job_id


def _controls(job) -> None:
    c1, c2, c3 = st.columns([1, 1, 2])
    if job.state in ("queued", "running"):
        c1.button("Stop", key=f"stop_{job.id}", on_click=reg.stop, args=(job.id,),
                  help="Ends after the current step and saves, so it can be resumed.")
    if job.state in ("stopped", "failed", "done"):
        more = c3.number_input("Train to epoch", 1, 500, max(job.epochs, job.epoch_log[-1]["epoch"] + 1
                                                               if job.epoch_log else job.epochs), key=f"more_{job.id}")
        if c2.button("Resume", key=f"resume_{job.id}"):
            try:
                reg.resume(job.id, epochs=int(more))
            except JobError as exc:
                st.error(str(exc))
            st.rerun()
    if job.state == "done" and job.model_path and c1.button("Explore this model", key=f"use_{job.id}", type="primary"):
        st.session_state[state.MODEL_KEY] = job.model_path
        st.switch_page("pages/decode.py")


def _panel(job_id: str) -> None:
    job = reg.status(job_id)
    label = {"queued": f"queued (position {job.queue_position})", "running": "running", "stopping": "stopping…",
             "stopped": "stopped", "done": "finished", "failed": "failed"}[job.state]
    st.markdown(f"**{job.name}** · job `{job.id}` · {label}")
    epoch = job.epoch or (job.epoch_log[-1]["epoch"] if job.epoch_log else 0)
    st.progress(job.progress, text=f"epoch {epoch}/{job.epochs} · step {job.epoch_step}/{job.steps_per_epoch} "
                f"· ETA {fig_train.fmt_eta(job.eta_s if job.state in ACTIVE else 0)}")
    if job.data:
        st.caption(f"Data: {job.data}")
    if job.error:
        st.error(f"The job failed: {job.error}")
    if job.state == "done":
        st.success(f"Saved as **{job.name}** in your models folder; it is in the sidebar model picker.")
    _controls(job)
    if job.steps:
        c1, c2 = st.columns(2)
        c1.plotly_chart(fig_train.step_curve(job.steps, "recon", job.steps_per_epoch), key=f"rc_{job_id}")
        c2.plotly_chart(fig_train.step_curve(job.steps, "kl", job.steps_per_epoch), key=f"kl_{job_id}")
    if job.epoch_log:
        c1, c2 = st.columns(2)
        c1.plotly_chart(fig_train.epoch_curve(job.epoch_log), key=f"ep_{job_id}")
        last = job.epoch_log[-1]
        c2.image(f"{job.job_dir}/{last['image']}", output_format="PNG",
                 caption=f"epoch {last['epoch']}: test images, their reconstructions, prior samples")


def _jobs(was_active: bool) -> None:
    """Your jobs and the chosen job's live panel; polled (by the fragment) while any job is active."""
    jobs = reg.list(mine)
    st.subheader("Your jobs")
    st.dataframe([{"name": j.name, "job": j.id, "state": j.state, "progress": f"{100 * j.progress:.0f}%",
                   "queue": j.queue_position or ""} for j in reversed(jobs)], hide_index=True)
    ids = [j.id for j in reversed(jobs)]
    shown = st.query_params.get("job") if st.query_params.get("job") in ids else ids[0]
    pick = st.selectbox("Show job", ids, index=ids.index(shown), key="train_show",
                        format_func=lambda i: next(f"{j.name} (job {i})" for j in jobs if j.id == i))
    st.query_params["job"] = pick
    _panel(pick)
    if was_active and not any(j.state in ACTIVE for j in reg.list(mine)):
        st.rerun(scope="app")  # the sidebar picker shows the new model at once, and polling stops


_form()
known = reg.list(mine)
if known:
    active = any(j.state in ACTIVE for j in known)
    st.fragment(run_every=1.0 if active else None)(_jobs)(active)
elif st.query_params.get("job"):
    st.warning(f"Job {st.query_params['job']} is not known to this server "
               "(finished jobs are cleaned up after a while).")
