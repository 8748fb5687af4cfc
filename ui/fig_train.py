"""Pure figure builders for the Train page: live loss curves from a job's status."""
from __future__ import annotations

import plotly.graph_objects as go

MAX_POINTS = 600  # per curve: enough for the eye, cheap to redraw every second


def step_curve(steps: list[tuple[int, float, float]], which: str, steps_per_epoch: int) -> go.Figure:
    """One training curve per step: ``which`` is 'recon' or 'kl' (nats per image); x in epochs.
    Long runs are thinned to at most MAX_POINTS points (every k-th, always keeping the last)."""
    col = {"recon": 1, "kl": 2}[which]
    spe = max(steps_per_epoch, 1)
    if len(steps) > MAX_POINTS:
        k = -(-len(steps) // MAX_POINTS)
        steps = steps[::k] + ([steps[-1]] if (len(steps) - 1) % k else [])
    xs = [s[0] / spe for s in steps]
    ys = [s[col] for s in steps]
    title = "reconstruction −log p(x|z)" if which == "recon" else "KL(q(z|x) ‖ p(z))"
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines", name=which, line={"width": 1.5}))
    fig.update_layout(title=f"{title}, per step (nats/image)", xaxis_title="epoch", height=260,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, showlegend=False)
    if which == "recon" and ys and min(ys) > 0:
        fig.update_yaxes(type="log")  # the first steps are ~10x the rest; a log axis keeps both readable
    return fig


def epoch_curve(epoch_log: list[dict]) -> go.Figure:
    """Train and test −ELBO per finished epoch."""
    epochs = [e["epoch"] for e in epoch_log]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=epochs, y=[e["train"]["neg_elbo"] for e in epoch_log], mode="lines+markers",
                             name="train −ELBO"))
    tests = [(e["epoch"], e["test"]["neg_elbo"]) for e in epoch_log if e.get("test")]
    if tests:
        fig.add_trace(go.Scatter(x=[t[0] for t in tests], y=[t[1] for t in tests], mode="lines+markers",
                                 name="test −ELBO"))
    fig.update_layout(title="−ELBO per epoch (nats/image)", xaxis_title="epoch", height=260,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, xaxis={"dtick": 1})
    return fig


def fmt_eta(seconds: float | None) -> str:
    """'1 min 05 s' style; '—' when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "—"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"
