"""The named checks behind the lessons' questions: each computes the model's own answer.

A lesson's question may name a check instead of a fixed answer (``services/lessons.py``); the
check runs the model through the ``vae`` library when the student asks to see the answer, so
the reveal stays true when the model is retrained. Each check is a pure function
``check(ctx, **params) -> Reveal``: ``Reveal.answer`` is an option value (a choice check) or a
number (a guess check), ``Reveal.text`` says in Markdown what the model did, with its numbers.

Parameters are declared per check (:class:`Param`) and checked when a lesson file is loaded.
Images are (N, C, H, W) floats in [0, 1]; codes are posterior means (N, D). Randomness comes
from generators seeded with ``ctx.seed``. No Streamlit here.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from services import validate
from vae import explore, metrics, ood
from vae.data.base import ImageData
from vae.models import VAE

DIM_WORDS = ("most_active", "least_active")


@dataclass(frozen=True)
class Param:
    """One parameter of a check or widget: its ``kind`` (int, float, enum, dim, dims, vector,
    image, images, dataset), its default and bounds or options."""

    kind: str
    default: Any = None
    lo: float | None = None
    hi: float | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reveal:
    """The model's answer (an option value or a number) and what it did, in Markdown."""

    answer: str | float
    text: str


@dataclass
class Context:
    """What a check works on: the ``model``, the name of its ``dataset``, a loader of test
    splits by dataset name, and the seed of every generator. ``encoded`` gives the model's
    encoded test set (cached by the caller); by default it is computed here."""

    model: VAE
    dataset: str
    data: Callable[[str], ImageData]
    encoded: Callable[[], explore.Encoded] | None = None
    seed: int = 0
    _enc: explore.Encoded | None = field(default=None, repr=False)

    def codes(self) -> explore.Encoded:
        """The model's test set encoded: means/logvars (N, D), labels (N,)."""
        if self.encoded is not None:
            return self.encoded()
        if self._enc is None:
            self._enc = explore.encode_dataset(self.model, self.data(self.dataset))
        return self._enc

    def generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(int(self.seed))


@dataclass(frozen=True)
class Picked:
    """One image chosen by an ``image`` parameter: (1, C, H, W), its class, a plain-text
    caption (:attr:`md` escapes it for Markdown), and whether it comes from the model's own
    dataset."""

    x: torch.Tensor
    label: int
    caption: str
    own: bool

    @property
    def md(self) -> str:
        return validate.markdown_escape(self.caption)


def pick_image(ctx: Context, spec: dict[str, Any]) -> Picked:
    """The image a lesson names: ``{"dataset", "index", "class"}`` (dataset: the model's when
    absent; with ``class``, the index-th test image of that class; positions wrap around).
    Raises ValueError when the class has no images or the image size is not the model's."""
    name = spec.get("dataset") or ctx.dataset
    data = ctx.data(name)
    index = int(spec.get("index", 0))
    if spec.get("class") is not None:
        pool = torch.nonzero(data.labels == int(spec["class"])).reshape(-1)
        if len(pool) == 0:
            raise ValueError(f"the {name} test set has no images of class {spec['class']}")
        i = int(pool[index % len(pool)])
    else:
        i = index % len(data)
    if tuple(data.image_shape) != tuple(ctx.model.config.image_shape):
        raise ValueError(f"{name} images are {tuple(data.image_shape)}, the model's {ctx.model.config.image_shape}")
    label = int(data.labels[i])
    return Picked(data.float_images(slice(i, i + 1)), label,
                  f"{name} test image #{int(data.ids[i])} ({data.classes[label]})", name == ctx.dataset)


def _labels(ctx: Context, img: Picked) -> int | None:
    """The class a conditional model is given for ``img``: its own (None when unconditional)."""
    return img.label if ctx.model.num_classes else None


def resolve_dim(ctx: Context, dim: int | str) -> int:
    """A dimension index, or the most / least active one (by the variance of the test codes'
    means, Burda et al. 2016), clamped to the model's dimensions."""
    if isinstance(dim, str):
        activity = ctx.codes().mean.var(dim=0, unbiased=False)
        order = torch.argsort(activity, descending=True, stable=True).tolist()
        return order[0] if dim == "most_active" else order[-1]
    return min(max(int(dim), 0), ctx.model.latent_dim - 1)


def _neg_elbo_and_score(ctx: Context, img: Picked) -> tuple[float, float]:
    """-ELBO and the anomaly score S = -ELBO - C(x) (:func:`vae.ood.score`) of one image, in nats;
    a conditional model scores an image of another dataset as its most favourable class."""
    if ctx.model.num_classes and not img.own:
        best = min((ood.score(ctx.model, img.x, ctx.generator(), labels=k) for k in range(ctx.model.num_classes)),
                   key=lambda pair: float(pair[0]))
        return float(best[0][0]), float(best[1][0])
    ne, s = ood.score(ctx.model, img.x, ctx.generator(), labels=_labels(ctx, img))
    return float(ne[0]), float(s[0])


def _fmt_z(z: torch.Tensor) -> str:
    return "(" + ", ".join(f"{v:.2f}" for v in z.tolist()) + ")"


# ---- latent space ---------------------------------------------------------------------------

def latent_size(ctx: Context) -> Reveal:
    """How many numbers the encoder gives per image: the latent dimension D."""
    c, h, w = ctx.model.config.image_shape
    d = ctx.model.latent_dim
    return Reveal(str(d), f"This model's encoder describes each image with **{d} numbers**; the image itself "
                          f"has {c * h * w} pixel values ({h} × {w}).")


def class_at(ctx: Context, z: list[float] | None = None, k: int = 25) -> Reveal:
    """The class most common among the ``k`` test images whose codes lie nearest to ``z`` (D,)."""
    enc = ctx.codes()
    point = torch.zeros(ctx.model.latent_dim) if z is None else torch.tensor(z, dtype=torch.float32)
    near = torch.topk((enc.mean - point).norm(dim=1), min(k, len(enc.mean)), largest=False).indices
    counts = torch.bincount(enc.labels[near], minlength=1)
    top = int(torch.argmax(counts))
    name = str(ctx.data(ctx.dataset).classes[top])
    return Reveal(name, f"Of the {len(near)} test images whose codes lie nearest to z = {_fmt_z(point)}, "
                        f"**{int(counts[top])} are “{validate.markdown_escape(name)}”**.")


def same_class_closer(ctx: Context, pairs: int = 4000) -> Reveal:
    """Are codes of the same class closer on average than codes of different classes?
    ``pairs`` random pairs of test images (seeded)."""
    enc = ctx.codes()
    gen = ctx.generator()
    i = torch.randint(len(enc.mean), (pairs,), generator=gen)
    j = torch.randint(len(enc.mean), (pairs,), generator=gen)
    dist = (enc.mean[i] - enc.mean[j]).norm(dim=1)
    same = enc.labels[i] == enc.labels[j]
    d_same = float(dist[same & (i != j)].mean()) if bool((same & (i != j)).any()) else float("nan")
    d_diff = float(dist[~same].mean()) if bool((~same).any()) else float("nan")
    answer = "same" if d_same < d_diff else "different"
    return Reveal(answer, f"Average distance between the codes of {pairs} random pairs of test images: "
                          f"**{d_same:.2f}** for two images of the same class, **{d_diff:.2f}** for two of "
                          "different classes.")


def fraction_within(ctx: Context, radius: float = 2.0) -> Reveal:
    """Percentage of test codes (posterior means) within ``radius`` of the origin, beside the
    prior's P(|z| < r) for z ~ N(0, I_D): the regularised lower incomplete gamma P(D/2, r²/2)."""
    enc = ctx.codes()
    pct = 100.0 * float((enc.mean.norm(dim=1) < radius).float().mean())
    d = ctx.model.latent_dim
    prior = 100.0 * float(torch.special.gammainc(torch.tensor(d / 2.0), torch.tensor(radius ** 2 / 2.0)))
    return Reveal(pct, f"**{pct:.0f}%** of the {len(enc.mean)} test images are encoded within distance {radius:g} "
                       f"of the origin. Points drawn from the prior N(0, I) in {d} dimensions: {prior:.0f}%.")


def active_units(ctx: Context) -> Reveal:
    """How many latent dimensions are active: Var_x(E_q[z_u | x]) > 0.01 (Burda et al. 2016)."""
    var = ctx.codes().mean.var(dim=0, unbiased=False)
    n = int((var > metrics.ACTIVE_THRESHOLD).sum())
    return Reveal(float(n), f"**{n} of {ctx.model.latent_dim}** dimensions are active: their code moves with the "
                            f"image (variance over the test set above {metrics.ACTIVE_THRESHOLD}). The most used "
                            f"varies by {float(var.max()):.2f}, the least used by {float(var.min()):.4f}.")


def traversal_change(ctx: Context, limit: float = 3.0, steps: int = 9) -> Reveal:
    """Which traversal changes the image more: the most or the least active dimension's, from
    z = 0 over [-limit, limit] (mean absolute pixel change between neighbouring frames)?"""
    base = torch.zeros(ctx.model.latent_dim)
    label = 0 if ctx.model.num_classes else None
    change = {}
    for word in DIM_WORDS:
        d = resolve_dim(ctx, word)
        strip = explore.traversal(ctx.model, base, d, torch.linspace(-limit, limit, steps), label=label)
        change[word] = (d, float((strip[1:] - strip[:-1]).abs().mean()))
    (d_hi, c_hi), (d_lo, c_lo) = change["most_active"], change["least_active"]
    answer = "most_active" if c_hi >= c_lo else "least_active"
    return Reveal(answer, f"Average pixel change between neighbouring frames: **{c_hi:.4f}** along z{d_hi} (the most "
                          f"used dimension), **{c_lo:.4f}** along z{d_lo} (the least used).")


# ---- the ELBO -------------------------------------------------------------------------------

def larger_elbo_term(ctx: Context, image: dict | None = None) -> Reveal:
    """Which term of -ELBO = reconstruction + KL is larger for one image (8 posterior samples)?"""
    img = pick_image(ctx, image or {})
    rec, kl = (float(t[0]) for t in explore.elbo_parts(ctx.model, img.x, ctx.generator(), labels=_labels(ctx, img)))
    answer = "reconstruction" if rec >= kl else "kl"
    return Reveal(answer, f"For {img.md}: reconstruction term **{rec:.1f} nats**, KL term **{kl:.1f} nats**; "
                          f"−ELBO = {rec + kl:.1f} nats.")


def posterior_std(ctx: Context, image: dict | None = None, dim: int | str = "most_active") -> Reveal:
    """The encoder's σ of latent ``dim`` for one image (the prior's σ is 1)."""
    img = pick_image(ctx, image or {})
    d = resolve_dim(ctx, dim)
    mean, std = explore.encode_images(ctx.model, img.x, labels=_labels(ctx, img))
    s, m = float(std[0, d]), float(mean[0, d])
    kl = 0.5 * (m * m + s * s - 1.0 - 2.0 * math.log(s))
    return Reveal(s, f"For {img.md}, the encoder gives z{d} a mean of {m:.2f} and **σ = {s:.3f}** "
                     f"(the prior: mean 0, σ 1). That dimension's KL: {kl:.2f} nats.")


# ---- interpolation --------------------------------------------------------------------------

def _prior_pairs(ctx: Context, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = ctx.generator()
    d = ctx.model.latent_dim
    return torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen)


def prior_norm(ctx: Context, n: int = 10000) -> Reveal:
    """The median length |z| of ``n`` draws z ~ N(0, I_D) (about √D for large D)."""
    z, _ = _prior_pairs(ctx, n)
    norms = z.norm(dim=1)
    lo, med, hi = (float(torch.quantile(norms, q)) for q in (0.05, 0.5, 0.95))
    d = ctx.model.latent_dim
    return Reveal(med, f"Median length of {n} random codes in {d} dimensions: **{med:.2f}** "
                       f"(√{d} = {math.sqrt(d):.2f}); 90% of them lie between {lo:.2f} and {hi:.2f}.")


def prior_angle(ctx: Context, n: int = 5000) -> Reveal:
    """The median angle in degrees between two independent draws from N(0, I_D)."""
    a, b = _prior_pairs(ctx, n)
    cos = (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1))
    deg = torch.rad2deg(torch.arccos(cos.clamp(-1, 1)))
    med = float(deg.median())
    lo, hi = (float(torch.quantile(deg, q)) for q in (0.05, 0.95))
    return Reveal(med, f"Median angle between two random codes in {ctx.model.latent_dim} dimensions: "
                       f"**{med:.0f}°**; 90% of the {n} pairs lie between {lo:.0f}° and {hi:.0f}°.")


def lerp_midpoint_ratio(ctx: Context, n: int = 5000) -> Reveal:
    """Median of |(z0 + z1)/2| / ((|z0| + |z1|)/2) for random pairs from the prior."""
    a, b = _prior_pairs(ctx, n)
    ratio = ((a + b) / 2).norm(dim=1) / ((a.norm(dim=1) + b.norm(dim=1)) / 2)
    med = float(ratio.median())
    return Reveal(med, f"Over {n} random pairs, the straight-line midpoint is **{med:.2f} times** as long as the two "
                       f"codes (1/√2 = {1 / math.sqrt(2):.2f}).")


def _midpoints(ctx: Context, a: dict | None, b: dict | None) -> tuple[Picked, Picked, torch.Tensor, torch.Tensor,
                                                                       torch.Tensor, torch.Tensor]:
    """Both images, their codes z0, z1 (D,) and the lerp and slerp midpoints (D,)."""
    ia, ib = pick_image(ctx, a or {}), pick_image(ctx, b or {"index": 1})
    z0 = explore.encode_images(ctx.model, ia.x, labels=_labels(ctx, ia))[0][0]
    z1 = explore.encode_images(ctx.model, ib.x, labels=_labels(ctx, ib))[0][0]
    half = torch.tensor([0.5])
    return ia, ib, z0, z1, explore.lerp(z0, z1, half)[0], explore.slerp(z0, z1, half)[0]


def shorter_midpoint(ctx: Context, a: dict | None = None, b: dict | None = None) -> Reveal:
    """Which midpoint of the path between two images' codes is shorter: linear or spherical?"""
    _, _, z0, z1, mid_l, mid_s = _midpoints(ctx, a, b)
    nl, ns = float(mid_l.norm()), float(mid_s.norm())
    answer = "linear" if nl < ns else "spherical"
    return Reveal(answer, f"Lengths: the two codes **{float(z0.norm()):.2f}** and **{float(z1.norm()):.2f}**; "
                          f"the linear midpoint **{nl:.2f}**, the spherical midpoint **{ns:.2f}**.")


def midpoint_typicality(ctx: Context, a: dict | None = None, b: dict | None = None) -> Reveal:
    """Whose midpoint length is nearer the median length of the model's test codes: linear or spherical?"""
    _, _, _, _, mid_l, mid_s = _midpoints(ctx, a, b)
    typical = float(ctx.codes().mean.norm(dim=1).median())
    nl, ns = float(mid_l.norm()), float(mid_s.norm())
    answer = "linear" if abs(nl - typical) < abs(ns - typical) else "spherical"
    return Reveal(answer, f"Median length of the model's test codes: **{typical:.2f}**. Linear midpoint: **{nl:.2f}**; "
                          f"spherical midpoint: **{ns:.2f}**.")


# ---- anomaly detection ----------------------------------------------------------------------

def higher_neg_elbo(ctx: Context, a: dict | None = None, b: dict | None = None) -> Reveal:
    """Which of two images has the higher −ELBO (is harder for the model to explain): "a" or "b"?"""
    ia, ib = pick_image(ctx, a or {}), pick_image(ctx, b or {"index": 1})
    (na, sa), (nb, sb) = _neg_elbo_and_score(ctx, ia), _neg_elbo_and_score(ctx, ib)
    return Reveal("a" if na > nb else "b", f"−ELBO: **{na:.1f} nats** for {ia.md}, **{nb:.1f} nats** for "
                                           f"{ib.md}. Anomaly score S: {sa:.1f} and {sb:.1f}.")


def higher_score(ctx: Context, a: dict | None = None, b: dict | None = None) -> Reveal:
    """Which of two images has the higher anomaly score S = −ELBO − C(x) (:mod:`vae.ood`)?"""
    ia, ib = pick_image(ctx, a or {}), pick_image(ctx, b or {"index": 1})
    (na, sa), (nb, sb) = _neg_elbo_and_score(ctx, ia), _neg_elbo_and_score(ctx, ib)
    return Reveal("a" if sa > sb else "b", f"Anomaly score S: **{sa:.1f} nats** for {ia.md}, **{sb:.1f} nats** "
                                           f"for {ib.md} (their −ELBOs: {na:.1f} and {nb:.1f}).")


def neg_elbo_percentile(ctx: Context, image: dict | None = None, reference: int = 1000) -> Reveal:
    """Where one image's −ELBO falls among the first ``reference`` test images' (percentile)."""
    img = pick_image(ctx, image or {})
    ne, _ = _neg_elbo_and_score(ctx, img)
    ref = explore.neg_elbo_dataset(ctx.model, ctx.data(ctx.dataset), ctx.generator(), limit=reference)
    pct = explore.percentile_rank(ne, ref)
    return Reveal(pct, f"{img.md}: −ELBO **{ne:.1f} nats**, higher than **{pct:.1f}%** of {len(ref)} test images "
                       f"of the model's own dataset (their median: {float(ref.median()):.1f}).")


def outliers_rank_higher(ctx: Context, outliers: str = "mnist", score: str = "neg_elbo", n: int = 300) -> Reveal:
    """Do images of another dataset get a higher ``score`` ("neg_elbo" or "score": S) than the
    model's own test images? "yes" when the AUROC (:func:`vae.ood.auroc`) is above 0.5."""
    report = ood.compare(ctx.model, ctx.data(ctx.dataset), ctx.data(outliers), seed=ctx.seed, limit=n)
    auc = report.auroc_neg_elbo if score == "neg_elbo" else report.auroc_score
    name = "plain −ELBO" if score == "neg_elbo" else "the anomaly score S"
    return Reveal("yes" if auc > 0.5 else "no",
                  f"With {name}, an image of {outliers} scores higher than one of {ctx.dataset} with probability "
                  f"**{auc:.2f}** (AUROC over {report.n_out} and {report.n_in} test images; 1 = always, 0.5 = a coin "
                  f"toss). Plain −ELBO: {report.auroc_neg_elbo:.2f}; S: {report.auroc_score:.2f}.")


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: its function, the question kind it answers ("choice" or "guess"),
    the option values it can return (empty: any, e.g. a class name) and its parameters."""

    fn: Callable[..., Reveal]
    kind: str
    outcomes: tuple[str, ...] = ()
    params: dict[str, Param] = field(default_factory=dict)


_IMG = Param("image", {})
_IMG_B = Param("image", {"index": 1})
CHECKS: dict[str, CheckSpec] = {
    "latent_size": CheckSpec(latent_size, "choice"),
    "class_at": CheckSpec(class_at, "choice", (), {"z": Param("vector"), "k": Param("int", 25, 1, 500)}),
    "same_class_closer": CheckSpec(same_class_closer, "choice", ("same", "different"),
                                   {"pairs": Param("int", 4000, 100, 100_000)}),
    "fraction_within": CheckSpec(fraction_within, "guess", (), {"radius": Param("float", 2.0, 0.01, 100.0)}),
    "active_units": CheckSpec(active_units, "guess"),
    "traversal_change": CheckSpec(traversal_change, "choice", DIM_WORDS, {"limit": Param("float", 3.0, 0.1, 10.0),
                                                                          "steps": Param("int", 9, 3, 32)}),
    "larger_elbo_term": CheckSpec(larger_elbo_term, "choice", ("reconstruction", "kl"), {"image": _IMG}),
    "posterior_std": CheckSpec(posterior_std, "guess", (), {"image": _IMG, "dim": Param("dim", "most_active")}),
    "prior_norm": CheckSpec(prior_norm, "guess", (), {"n": Param("int", 10000, 100, 100_000)}),
    "prior_angle": CheckSpec(prior_angle, "guess", (), {"n": Param("int", 5000, 100, 100_000)}),
    "lerp_midpoint_ratio": CheckSpec(lerp_midpoint_ratio, "guess", (), {"n": Param("int", 5000, 100, 100_000)}),
    "shorter_midpoint": CheckSpec(shorter_midpoint, "choice", ("linear", "spherical"), {"a": _IMG, "b": _IMG_B}),
    "midpoint_typicality": CheckSpec(midpoint_typicality, "choice", ("linear", "spherical"), {"a": _IMG, "b": _IMG_B}),
    "higher_neg_elbo": CheckSpec(higher_neg_elbo, "choice", ("a", "b"), {"a": _IMG, "b": _IMG_B}),
    "higher_score": CheckSpec(higher_score, "choice", ("a", "b"), {"a": _IMG, "b": _IMG_B}),
    "neg_elbo_percentile": CheckSpec(neg_elbo_percentile, "guess", (),
                                     {"image": _IMG, "reference": Param("int", 1000, 10, 10_000)}),
    "outliers_rank_higher": CheckSpec(outliers_rank_higher, "choice", ("yes", "no"),
                                      {"outliers": Param("dataset", "mnist"),
                                       "score": Param("enum", "neg_elbo", options=("neg_elbo", "score")),
                                       "n": Param("int", 300, 10, 5000)}),
}


def run(name: str, ctx: Context, params: dict[str, Any]) -> Reveal:
    """Run the registered check ``name`` on ``ctx`` with its (already validated) ``params``."""
    return CHECKS[name].fn(ctx, **params)
