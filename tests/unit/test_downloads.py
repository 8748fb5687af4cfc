"""services.downloads: the model zip (exactly its four files, loads back), ONNX parity with PyTorch
(onnxruntime, mlp / conv / conditional / the shipped mnist-2d, batch 1 and 7), the latent codes
as CSV and NPZ."""
import ast
import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from services import downloads
from services.catalog import SHIPPED_DIR
from vae import checkpoint
from vae.config import ModelConfig
from vae.models import build_model
from vae.progress import TrainState

ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-5  # abs: float32 kernels of two runtimes
TINY = {
    "mlp": ModelConfig(arch="mlp", latent_dim=3, hidden=(32, 16)),
    "mlp-gaussian": ModelConfig(arch="mlp", latent_dim=2, hidden=(24,), likelihood="gaussian", activation="elu"),
    # 28 -> 14 -> 7 -> 3: the last transposed convolution needs output_padding 1 to get back to 7
    "conv": ModelConfig(arch="conv", latent_dim=4, conv_channels=(4, 8, 8), conv_fc=16, activation="silu"),
    "cmlp": ModelConfig(arch="cmlp", num_classes=10, latent_dim=2, hidden=(32,)),
    "cconv": ModelConfig(arch="cconv", num_classes=3, channels=3, height=13, width=9, latent_dim=2,
                         conv_channels=(4, 6), conv_fc=8),
}


def _tiny(name: str):
    return build_model(TINY[name], generator=torch.Generator().manual_seed(7))


def _shipped(name: str = "mnist-2d"):
    return checkpoint.load(SHIPPED_DIR / name).model


def _session(data: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def _feeds(model, first: str, value: torch.Tensor, gen: torch.Generator) -> tuple[dict, torch.Tensor | None]:
    """onnxruntime's inputs and the labels PyTorch takes for the same batch."""
    feeds = {first: value.numpy()}
    if not model.num_classes:
        return feeds, None
    y = torch.randint(0, model.num_classes, (len(value),), generator=gen)
    feeds["label_onehot"] = torch.nn.functional.one_hot(y, model.num_classes).float().numpy()
    return feeds, y


def _models():
    tiny = [pytest.param(_tiny, name, id=name) for name in TINY]
    # mnist-2d always; the conditional mnist-cond-2d once it is shipped
    shipped = ["mnist-2d", *(["mnist-cond-2d"] if (SHIPPED_DIR / "mnist-cond-2d").is_dir() else [])]
    return [*tiny, *(pytest.param(_shipped, n, id=n) for n in shipped)]


@pytest.mark.parametrize(("make", "name"), _models())
def test_onnx_decoder_matches_pytorch(make, name):
    model = make(name)
    sess = _session(downloads.onnx_decoder(model))
    assert [i.name for i in sess.get_inputs()] == (["z", "label_onehot"] if model.num_classes else ["z"])
    assert [o.name for o in sess.get_outputs()] == ["image"]
    gen = torch.Generator().manual_seed(1)
    for batch in (1, 7):
        z = 2.0 * torch.randn(batch, model.latent_dim, generator=gen)
        feeds, y = _feeds(model, "z", z, gen)
        (image,) = sess.run(None, feeds)
        with torch.no_grad():
            expected = model.decode_image(z, y).numpy()
        assert image.shape == (batch, *model.config.image_shape)
        assert np.abs(image - expected).max() <= TOL
        assert image.min() >= 0.0 and image.max() <= 1.0


@pytest.mark.parametrize(("make", "name"), _models())
def test_onnx_encoder_matches_pytorch(make, name):
    model = make(name)
    sess = _session(downloads.onnx_encoder(model))
    assert [i.name for i in sess.get_inputs()] == (["x", "label_onehot"] if model.num_classes else ["x"])
    assert [o.name for o in sess.get_outputs()] == ["mean", "logvar"]
    gen = torch.Generator().manual_seed(2)
    for batch in (1, 7):
        x = torch.rand(batch, *model.config.image_shape, generator=gen)
        feeds, y = _feeds(model, "x", x, gen)
        mean, logvar = sess.run(None, feeds)
        with torch.no_grad():
            q = model.encode(x, y)
        assert mean.shape == logvar.shape == (batch, model.latent_dim)
        assert np.abs(mean - q.mean.numpy()).max() <= TOL
        assert np.abs(logvar - q.logvar.numpy()).max() <= TOL


def test_onnx_graphs_are_valid_at_the_pinned_opset_and_leave_the_model_alone():
    model = _tiny("conv").train()  # the export must not switch a shared model's mode
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pads = [m.output_padding for m in model.decoder.deconv if isinstance(m, torch.nn.ConvTranspose2d)]
    assert (1, 1) in pads, "the conv case must cover a transposed convolution with output_padding"
    for data in (downloads.onnx_decoder(model), downloads.onnx_encoder(model)):
        graph = onnx.load_from_string(data)
        onnx.checker.check_model(graph)
        assert [op.version for op in graph.opset_import if op.domain in ("", "ai.onnx")] == [downloads.OPSET]
        assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def _names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return sorted(zf.namelist())


def test_model_zip_holds_the_four_files_and_loads_back(tmp_path):
    data = downloads.model_zip(SHIPPED_DIR / "mnist-2d")
    assert _names(data) == ["mnist-2d/README.md", "mnist-2d/config.json", "mnist-2d/metrics.json",
                            "mnist-2d/model.safetensors"]
    assert downloads.model_zip(SHIPPED_DIR / "mnist-2d") == data, "the same folder must give the same bytes"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(tmp_path)
    back, original = checkpoint.load(tmp_path / "mnist-2d"), _shipped()
    assert back.config == original.config and back.metrics is not None
    assert all(torch.equal(v, original.state_dict()[k]) for k, v in back.model.state_dict().items())


def test_model_zip_leaves_out_training_state_links_and_strays(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("not part of the model")
    folder = checkpoint.save(tmp_path / "mine", _tiny("mlp"), "mnist", metrics={"neg_elbo": 1.0}, state=TrainState())
    assert (folder / checkpoint.STATE_FILE).is_file()
    (folder / "README.md").symlink_to(outside)  # a card that is a link: left out
    (folder / "notes.txt").write_text("stray")
    data = downloads.model_zip(folder)
    assert _names(data) == ["mine/config.json", "mine/metrics.json", "mine/model.safetensors"]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert all(b"not part of the model" not in zf.read(n) for n in zf.namelist())


def test_model_zip_refuses_a_folder_without_weights_or_with_linked_weights(tmp_path):
    folder = checkpoint.save(tmp_path / "m", _tiny("mlp"), "mnist")
    weights = folder / checkpoint.WEIGHTS_FILE
    moved = tmp_path / "elsewhere.safetensors"
    weights.rename(moved)
    with pytest.raises(downloads.DownloadError, match="model.safetensors is missing"):
        downloads.model_zip(folder)
    weights.symlink_to(moved)
    with pytest.raises(downloads.DownloadError, match="model.safetensors is missing"):
        downloads.model_zip(folder)
    with pytest.raises(downloads.DownloadError, match="not there"):
        downloads.model_zip(tmp_path / "nothing")


def _encoded(n: int = 13, d: int = 3) -> dict[str, np.ndarray]:
    gen = np.random.default_rng(0)
    return {"mean": gen.normal(size=(n, d)).astype(np.float32), "logvar": gen.normal(size=(n, d)).astype(np.float32),
            "labels": gen.integers(0, 10, n), "ids": np.arange(100, 100 + n)}


def test_latent_codes_csv_has_the_header_and_one_exact_row_per_image():
    enc = _encoded()
    rows = list(csv.reader(io.StringIO(downloads.latent_codes_csv(enc).decode("utf-8"))))
    assert rows[0] == ["id", "label", "z0", "z1", "z2", "logvar0", "logvar1", "logvar2"]
    body = rows[1:]
    assert len(body) == 13
    assert [int(r[0]) for r in body] == enc["ids"].tolist()
    assert [int(r[1]) for r in body] == enc["labels"].tolist()
    values = np.array([[float(v) for v in r[2:]] for r in body], dtype=np.float32)
    assert np.array_equal(values, np.hstack([enc["mean"], enc["logvar"]])), "9 significant digits round-trip float32"


def test_latent_codes_csv_of_the_shipped_model_on_its_test_sample():
    from vae import explore
    from vae.registry import load_dataset

    data = load_dataset("mnist", "test")
    e = explore.encode_dataset(_shipped(), data)
    enc = {"mean": e.mean.numpy(), "logvar": e.logvar.numpy(), "labels": e.labels.numpy(), "ids": e.ids.numpy()}
    reader = csv.DictReader(io.StringIO(downloads.latent_codes_csv(enc).decode("utf-8")))
    rows = list(reader)
    assert reader.fieldnames == ["id", "label", "z0", "z1", "logvar0", "logvar1"]
    assert len(rows) == len(data)


def test_latent_codes_npz_loads_without_pickle():
    enc = _encoded()
    with np.load(io.BytesIO(downloads.latent_codes_npz(enc, classes=[str(i) for i in range(10)])),
                 allow_pickle=False) as npz:
        assert sorted(npz.files) == ["classes", "ids", "labels", "logvar", "mean"]
        assert npz["mean"].dtype == np.float32 and np.array_equal(npz["mean"], enc["mean"])
        assert np.array_equal(npz["logvar"], enc["logvar"])
        assert npz["labels"].dtype == np.int64 and np.array_equal(npz["labels"], enc["labels"])
        assert np.array_equal(npz["ids"], enc["ids"])
        assert npz["classes"].tolist() == [str(i) for i in range(10)]
    with np.load(io.BytesIO(downloads.latent_codes_npz(enc)), allow_pickle=False) as npz:
        assert "classes" not in npz.files


def test_latent_codes_that_do_not_fit_together_are_refused():
    enc = _encoded()
    enc["labels"] = enc["labels"][:5]
    with pytest.raises(downloads.DownloadError, match="do not fit together"):
        downloads.latent_codes_csv(enc)
    with pytest.raises(downloads.DownloadError, match="incomplete"):
        downloads.latent_codes_npz({"mean": enc["mean"]})
    with pytest.raises(downloads.DownloadError, match="incomplete"):
        downloads.latent_codes_npz({**_encoded(), "labels": np.full(13, 0.5)})  # labels must be integers


def _chart_calls(source: str) -> list[tuple[int, str | None]]:
    """(line, the ``config=`` argument's source or None) of every ``*.plotly_chart(...)`` call."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "plotly_chart":
            config = next((ast.unparse(k.value) for k in node.keywords if k.arg == "config"), None)
            out.append((node.lineno, config))
    return out


def test_the_chart_scan_finds_calls_without_a_png_config():
    src = "st.plotly_chart(fig)\nc1.plotly_chart(fig, key='a', config=figures.png_config('x'))\n"
    assert _chart_calls(src) == [(1, None), (2, "figures.png_config('x')")]


def test_every_chart_saves_as_a_named_png():
    files = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "ui").glob("*.py"))]
    calls = {f.name: _chart_calls(f.read_text(encoding="utf-8")) for f in files}
    assert sum(len(c) for c in calls.values()) >= 6  # Latent map, Reconstruct (2), Train (3)
    bad = {name: [line for line, config in c if not (config or "").startswith("figures.png_config(")]
           for name, c in calls.items()}
    assert {name: lines for name, lines in bad.items() if lines} == {}
