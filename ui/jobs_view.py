"""The Train page's jobs: the list of the actor's jobs and one job's live panel (progress,
curves, preview), with the controls its owner (or the teacher) may use. A job opened from a
shared link that belongs to someone else is shown read-only."""
from __future__ import annotations

import streamlit as st

from services import catalog, validate
from services.jobs import ACTIVE, JobError, JobRegistry, JobStatus
from services.redact import redact_paths
from services.workspace import AccessError, Actor
from ui import fig_train, figures, inputs, state
from vae import settings

LABELS = {"queued": "queued (position {pos})", "running": "running", "stopping": "stopping…",
          "stopped": "stopped", "done": "finished", "failed": "failed"}


def _resume(reg: JobRegistry, job: JobStatus, who: Actor, where) -> None:
    top = settings.limits().max_epochs
    start = min(top, max(job.epochs, job.epoch_log[-1]["epoch"] + 1 if job.epoch_log else job.epochs))
    more = inputs.number_input("Train to epoch", 1, top, start, key=f"more_{job.id}", where=where[2])
    if where[1].button("Resume", key=f"resume_{job.id}"):
        try:
            reg.resume(job.id, epochs=int(more), actor=who)
        except (JobError, AccessError) as exc:
            st.error(str(exc))
            return
        st.rerun()


def _publish(job: JobStatus, who: Actor) -> None:
    """Teacher only: copy a finished model into the class's folder."""
    c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
    name = c1.text_input("Publish to the class as", value=job.name, key=f"pub_name_{job.id}")
    if c2.button("Publish to the class", key=f"publish_{job.id}"):
        try:
            catalog.publish(job.model_path, name.strip(), who)
        except (JobError, AccessError) as exc:
            st.error(str(exc))
            return
        st.success(f"Published as {validate.markdown_escape(name.strip())}: every student now finds it in the "
                   "model picker.")


def _controls(reg: JobRegistry, job: JobStatus, who: Actor) -> None:
    if not who.owns(job.owner):
        st.caption("Read-only: this job belongs to another workspace.")
        return
    cols = st.columns([1, 1, 2])
    if job.state in ("queued", "running"):
        cols[0].button("Stop", key=f"stop_{job.id}", on_click=reg.stop, args=(job.id, who),
                       help="Ends after the current step and saves, so it can be resumed.")
    if job.state in ("stopped", "failed", "done"):
        _resume(reg, job, who, cols)
    mine = job.owner == who.workspace
    if job.state == "done" and job.model_path and mine and cols[0].button("Explore this model",
                                                                         key=f"use_{job.id}", type="primary"):
        st.session_state[state.MODEL_KEY] = job.model_path
        st.switch_page("pages/decode.py")
    if job.state == "done" and job.model_path and who.teacher:
        _publish(job, who)


def _curves(job: JobStatus) -> None:
    if job.steps:
        c1, c2 = st.columns(2)
        c1.plotly_chart(fig_train.step_curve(job.steps, "recon", job.steps_per_epoch), key=f"rc_{job.id}",
                        config=figures.png_config(f"train-recon-{job.id}"))
        c2.plotly_chart(fig_train.step_curve(job.steps, "kl", job.steps_per_epoch), key=f"kl_{job.id}",
                        config=figures.png_config(f"train-kl-{job.id}"))
    if job.epoch_log:
        c1, c2 = st.columns(2)
        c1.plotly_chart(fig_train.epoch_curve(job.epoch_log), key=f"ep_{job.id}",
                        config=figures.png_config(f"train-epochs-{job.id}"))
        last = job.epoch_log[-1]
        c2.image(f"{job.job_dir}/{last['image']}", output_format="PNG",
                 caption=f"epoch {last['epoch']}: test images, their reconstructions, prior samples")


def panel(reg: JobRegistry, job_id: str, who: Actor) -> None:
    """One job's live panel. Texts from the job (its data source, its error) carry no server paths."""
    job = reg.status(job_id)
    label = LABELS[job.state].format(pos=job.queue_position)
    if job.state == "stopped" and getattr(job, "stop_reason", None):
        label += f": {job.stop_reason}"
    st.markdown(f"**{job.name}** · job `{job.id}` · {validate.markdown_escape(label)}")
    epoch = job.epoch or (job.epoch_log[-1]["epoch"] if job.epoch_log else 0)
    st.progress(job.progress, text=f"epoch {epoch}/{job.epochs} · step {job.epoch_step}/{job.steps_per_epoch} "
                f"· ETA {fig_train.fmt_eta(job.eta_s if job.state in ACTIVE else 0)}")
    if job.data:
        st.caption(validate.markdown_escape(f"Data: {redact_paths(job.data)}"))
    if job.error:
        st.error(validate.markdown_escape(f"The job failed: {redact_paths(job.error)}"))
    if job.state == "done":
        where = "your models" if job.owner == who.workspace else "its owner's models"
        st.success(f"Saved as **{job.name}** in {where}; it is in the sidebar model picker.")
    _controls(reg, job, who)
    _curves(job)


def job_list(reg: JobRegistry, who: Actor, shared: str | None, was_active: bool) -> None:
    """The actor's jobs (every job, for the teacher) and the chosen one's panel; polled by the
    page's fragment while any is active. ``shared``: a validated job id from the URL."""
    jobs = list(reversed(reg.list(actor=who)))
    st.subheader("All jobs" if who.teacher else "Your jobs")
    st.dataframe([{"name": j.name, "job": j.id, "state": j.state, "progress": f"{100 * j.progress:.0f}%",
                   "queue": j.queue_position or ""} for j in jobs], hide_index=True)
    ids = [j.id for j in jobs]
    names = {j.id: j.name for j in jobs}
    shown = shared if shared in ids else ids[0]
    pick = inputs.selectbox("Show job", ids, index=ids.index(shown), key="train_show",
                            format_func=lambda i: f"{names[i]} (job {i})")
    if shared is None or shared in ids:  # a link to someone else's job keeps its id in the URL
        st.query_params["job"] = pick
    panel(reg, pick, who)
    if was_active and not any(j.state in ACTIVE for j in reg.list(actor=who)):
        st.rerun(scope="app")  # the sidebar picker shows the new model at once, and polling stops
