from ui import fig_train


def test_step_curves_are_thinned_but_keep_the_ends():
    steps = [(i, 100.0 - i * 0.01, 5.0) for i in range(1, 5001)]
    fig = fig_train.step_curve(steps, "recon", steps_per_epoch=100)
    xs = list(fig.data[0].x)
    assert len(xs) <= fig_train.MAX_POINTS + 1
    assert xs[0] == 0.01 and xs[-1] == 50.0  # first and last step, in epochs
    assert fig.layout.yaxis.type == "log"
    kl = fig_train.step_curve(steps[:10], "kl", steps_per_epoch=100)
    assert list(kl.data[0].y) == [5.0] * 10 and kl.layout.yaxis.type is None


def test_epoch_curve_and_eta_text():
    log = [{"epoch": 1, "train": {"neg_elbo": 120.0}, "test": {"neg_elbo": 118.0}},
           {"epoch": 2, "train": {"neg_elbo": 110.0}, "test": None}]
    fig = fig_train.epoch_curve(log)
    assert [t.name for t in fig.data] == ["train −ELBO", "test −ELBO"]
    assert list(fig.data[1].x) == [1]
    assert fig_train.fmt_eta(65) == "1 min 05 s" and fig_train.fmt_eta(7.4) == "7 s"
    assert fig_train.fmt_eta(None) == "—" and fig_train.fmt_eta(float("nan")) == "—"
