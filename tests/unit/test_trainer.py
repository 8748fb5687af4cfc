import threading

import pytest
import torch

from vae import checkpoint
from vae.config import ModelConfig, TrainConfig
from vae.models import build_model
from vae.registry import load_dataset
from vae.trainer import Trainer, TrainingDiverged


def _model(seed=0, **kw):
    cfg = ModelConfig(latent_dim=kw.pop("latent_dim", 4), hidden=kw.pop("hidden", (64,)), **kw)
    return build_model(cfg, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def mnist_subset(mnist_dir):
    """2,000 real MNIST training images and 500 test images."""
    train = load_dataset("mnist", "train", data_dir=mnist_dir)
    test = load_dataset("mnist", "test", data_dir=mnist_dir)
    return train.subset(torch.arange(2000)), test.subset(torch.arange(500))


def test_loss_goes_down_on_real_mnist(mnist_subset):
    train, test = mnist_subset
    steps, epochs = [], []
    trainer = Trainer(_model(), train, TrainConfig(epochs=3, batch_size=64, seed=1), test=test,
                      on_step=steps.append, on_epoch=epochs.append)
    result = trainer.fit()
    assert not result.stopped and result.state.epoch == 3
    assert len(steps) == 3 * 32 and steps[-1].step == 96 and steps[-1].epoch_step == 32
    assert steps[-1].samples_per_s > 0 and steps[0].eta_s > steps[-1].eta_s >= 0
    first, last = epochs[0].test["neg_elbo"], epochs[-1].test["neg_elbo"]
    assert last < first - 20, (first, last)
    assert sum(s.loss for s in steps[-10:]) < sum(s.loss for s in steps[:10])
    assert [e.epoch for e in epochs] == [1, 2, 3] and len(result.state.history) == 3


def test_loss_goes_down_on_shapes(shapes_small):
    epochs = []
    Trainer(_model(), shapes_small, TrainConfig(epochs=4, batch_size=64), test=shapes_small,
            on_epoch=epochs.append).fit()
    assert epochs[-1].test["neg_elbo"] < 0.8 * epochs[0].test["neg_elbo"]


def test_stop_event_ends_at_next_step(shapes_small):
    stop = threading.Event()
    seen = []

    def on_step(r):
        seen.append(r.step)
        if r.step == 5:
            stop.set()

    result = Trainer(_model(), shapes_small, TrainConfig(epochs=3, batch_size=64), on_step=on_step,
                     stop_event=stop).fit()
    assert result.stopped and seen == [1, 2, 3, 4, 5]
    assert result.state.epoch == 0 and result.state.epoch_step == 5


def _train_to_end(data, cfg, state=None, model=None, stop_after=None):
    stop = threading.Event()
    model = model or _model(seed=2)

    def on_step(r):
        if stop_after and r.step == stop_after:
            stop.set()

    trainer = Trainer(model, data, cfg, on_step=on_step, stop_event=stop, state=state)
    return model, trainer.fit()


def test_resume_through_checkpoint_continues_the_same_run(shapes_small, tmp_path):
    cfg = TrainConfig(epochs=3, batch_size=64, kl_warmup_epochs=1, seed=3)
    straight, _ = _train_to_end(shapes_small, cfg)
    # stop mid-epoch 2 (8 steps per epoch), save, load into a fresh process-like state, continue
    part, result = _train_to_end(shapes_small, cfg, stop_after=11)
    assert result.stopped and result.state.epoch == 1 and result.state.epoch_step == 3
    checkpoint.save(tmp_path / "ck", part, "shapes", training={"history": result.state.history}, state=result.state)
    loaded = checkpoint.load(tmp_path / "ck")
    state = checkpoint.load_train_state(tmp_path / "ck")
    resumed, final = _train_to_end(shapes_small, cfg, state=state, model=loaded.model)
    assert not final.stopped and final.state.epoch == 3 and final.state.global_step == 24
    assert len(final.state.history) == 3
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), k


def test_resume_can_extend_epochs(shapes_small):
    model, first = _train_to_end(shapes_small, TrainConfig(epochs=1, batch_size=128))
    _, more = _train_to_end(shapes_small, TrainConfig(epochs=2, batch_size=128), state=first.state, model=model)
    assert more.state.epoch == 2 and len(more.state.history) == 2


def test_nan_stops_with_a_clear_message(shapes_small):
    model = _model()
    with torch.no_grad():
        model.encoder.net[0].weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 1, step 1 .*learning rate"):
        Trainer(model, shapes_small, TrainConfig(epochs=1)).fit()


def test_huge_learning_rate_diverges_cleanly(shapes_small):
    model = _model(likelihood="gaussian", learn_sigma=True)
    with pytest.raises(TrainingDiverged, match="Try a lower learning rate"):
        Trainer(model, shapes_small, TrainConfig(epochs=20, lr=1e6, batch_size=32)).fit()


def test_shape_mismatch_is_refused(shapes_small):
    model = build_model(ModelConfig(height=64, width=64, latent_dim=2, hidden=(8,)))
    with pytest.raises(ValueError, match="model expects"):
        Trainer(model, shapes_small, TrainConfig(epochs=1))
