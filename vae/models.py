"""VAE models built from a :class:`vae.config.ModelConfig`.

Images are float tensors ``(B, C, H, W)`` in [0, 1]; latents are ``(B, D)``. Class-conditional
models (``cmlp``/``cconv``; Sohn et al. 2015) also take labels ``y``: (B,) int64 class indices,
or one int / 0-d tensor for the whole batch. The one-hot label (B, K) is concatenated to the
encoder's input (MLP: the flattened image; conv: the flattened conv features before the fc
layers) and to z at the decoder's input.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .config import ModelConfig
from .distributions import DiagonalGaussian, bernoulli_log_likelihood, gaussian_log_likelihood

_ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "silu": nn.SiLU}


def _mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Linear layers between consecutive ``sizes`` with an activation after all but the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def conv_sizes(size: int, layers: int) -> list[int]:
    """Spatial sizes after each stride-2 conv (kernel 4, padding 1 gives floor(s/2))."""
    sizes = [size]
    for _ in range(layers):
        sizes.append((sizes[-1] + 2 - 4) // 2 + 1)
    return sizes


def _with(h: torch.Tensor, onehot: torch.Tensor | None) -> torch.Tensor:
    """(B, F) features, optionally followed by the (B, K) one-hot label: (B, F [+ K])."""
    return h if onehot is None else torch.cat([h, onehot], dim=-1)


class MLPEncoder(nn.Module):
    """(B, C, H, W) [+ (B, K) one-hot] -> posterior parameters (B, 2D): flatten, hidden layers,
    linear head."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.net = _mlp([cfg.num_pixels + cfg.num_classes, *cfg.hidden, 2 * cfg.latent_dim], cfg.activation)

    def forward(self, x: torch.Tensor, onehot: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(_with(x.flatten(start_dim=1), onehot))


class MLPDecoder(nn.Module):
    """(B, D + K) latents [with the one-hot label] -> (B, C, H, W) likelihood parameters
    (logits or means)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.shape = cfg.image_shape
        self.net = _mlp([cfg.latent_dim + cfg.num_classes, *reversed(cfg.hidden), cfg.num_pixels], cfg.activation)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)


class ConvEncoder(nn.Module):
    """Stride-2 convolutions (kernel 4) -> flatten [+ (B, K) one-hot] -> fc -> posterior
    parameters (B, 2D)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        act = _ACTIVATIONS[cfg.activation]
        layers: list[nn.Module] = []
        in_ch = cfg.channels
        for ch in cfg.conv_channels:
            layers += [nn.Conv2d(in_ch, ch, kernel_size=4, stride=2, padding=1), act()]
            in_ch = ch
        h = conv_sizes(cfg.height, len(cfg.conv_channels))[-1]
        w = conv_sizes(cfg.width, len(cfg.conv_channels))[-1]
        if h < 1 or w < 1:
            raise ValueError(f"{len(cfg.conv_channels)} conv layers shrink a {cfg.height}x{cfg.width} image to nothing")
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Linear(in_ch * h * w + cfg.num_classes, cfg.conv_fc), act(),
                                nn.Linear(cfg.conv_fc, 2 * cfg.latent_dim))

    def forward(self, x: torch.Tensor, onehot: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc(_with(self.conv(x).flatten(start_dim=1), onehot))


class ConvDecoder(nn.Module):
    """(B, D + K) latents [with the one-hot label] -> fc -> reshape -> transposed convolutions
    mirroring :class:`ConvEncoder`."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        act = _ACTIVATIONS[cfg.activation]
        n = len(cfg.conv_channels)
        hs, ws = conv_sizes(cfg.height, n), conv_sizes(cfg.width, n)
        chans = list(cfg.conv_channels)
        self.start = (chans[-1], hs[-1], ws[-1])
        self.fc = nn.Sequential(
            nn.Linear(cfg.latent_dim + cfg.num_classes, cfg.conv_fc), act(),
            nn.Linear(cfg.conv_fc, math.prod(self.start)), act()
        )
        layers: list[nn.Module] = []
        outs = [*reversed(chans[:-1]), cfg.channels]
        in_ch = chans[-1]
        for i, out_ch in enumerate(outs):
            level = n - i  # current spatial level in hs/ws
            pad = (hs[level - 1] - 2 * hs[level], ws[level - 1] - 2 * ws[level])
            layers.append(nn.ConvTranspose2d(in_ch, out_ch, kernel_size=4, stride=2, padding=1, output_padding=pad))
            if i < n - 1:
                layers.append(act())
            in_ch = out_ch
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.fc(z).view(-1, *self.start))


class VAE(nn.Module):
    """Variational autoencoder (Kingma & Welling 2014) with a diagonal-Gaussian posterior;
    class-conditional (Sohn et al. 2015) when ``config.conditional``. Every method takes the
    labels ``y`` ((B,) int64, or an int / 0-d tensor for all): required by a conditional model
    (ValueError without), ignored by an unconditional one."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        if config.base_arch == "mlp":
            self.encoder: nn.Module = MLPEncoder(config)
            self.decoder: nn.Module = MLPDecoder(config)
        else:
            self.encoder = ConvEncoder(config)
            self.decoder = ConvDecoder(config)
        if config.likelihood == "gaussian":
            log_sigma = torch.tensor(math.log(config.sigma))
            if config.learn_sigma:
                self.log_sigma = nn.Parameter(log_sigma)
            else:
                self.register_buffer("log_sigma", log_sigma)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def num_classes(self) -> int:
        """K classes a conditional model is conditioned on; 0 for an unconditional one."""
        return self.config.num_classes

    def onehot(self, y: torch.Tensor | int | None, lead: torch.Size | tuple[int, ...],
               like: torch.Tensor) -> torch.Tensor | None:
        """Labels -> one-hot (prod(lead), K) in ``like``'s dtype and device (None when unconditional).

        ``y`` (an int, a 0-d tensor or a tensor broadcastable to ``lead``, e.g. (N,) for latents
        (S, N, D)) holds class indices in 0..K-1; anything else raises ValueError."""
        k = self.num_classes
        if k == 0:
            return None
        if y is None:
            raise ValueError(f"this model is conditional on {k} classes: give the class labels y")
        y = torch.as_tensor(y, device=like.device)
        if y.dtype.is_floating_point or y.dtype == torch.bool or y.is_complex():
            raise ValueError(f"class labels must be integers, got {y.dtype}")
        try:
            y = torch.broadcast_to(y, tuple(lead)).reshape(-1)
        except RuntimeError:
            raise ValueError(f"class labels of shape {tuple(y.shape)} do not fit a batch of {tuple(lead)}") from None
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= k):
            raise ValueError(f"class labels must be in 0..{k - 1}, got {int(y.min())}..{int(y.max())}")
        return nn.functional.one_hot(y.long(), k).to(like.dtype)

    def encode(self, x: torch.Tensor, y: torch.Tensor | int | None = None) -> DiagonalGaussian:
        """(B, C, H, W) images in [0, 1] (and labels y) -> posterior over (B, D) latents."""
        h = self.encoder(x, self.onehot(y, x.shape[:1], x))
        mean, logvar = h.chunk(2, dim=-1)
        return DiagonalGaussian(mean, logvar.clamp(-30.0, 20.0))

    def decode(self, z: torch.Tensor, y: torch.Tensor | int | None = None) -> torch.Tensor:
        """(..., D) latents (and labels y broadcastable to (...)) -> (..., C, H, W) likelihood
        parameters (logits for Bernoulli)."""
        lead = z.shape[:-1]
        h = _with(z.reshape(-1, z.shape[-1]), self.onehot(y, lead, z))
        out = self.decoder(h)
        return out.view(*lead, *self.config.image_shape)

    def decode_image(self, z: torch.Tensor, y: torch.Tensor | int | None = None) -> torch.Tensor:
        """(..., D) latents (and labels y) -> (..., C, H, W) mean images in [0, 1]."""
        params = self.decode(z, y)
        if self.config.likelihood == "bernoulli":
            return torch.sigmoid(params)
        return params.clamp(0.0, 1.0)

    def log_likelihood(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per image: ``params`` (..., C, H, W) from :meth:`decode`, result (...)."""
        if self.config.likelihood == "bernoulli":
            return bernoulli_log_likelihood(params, x)
        return gaussian_log_likelihood(params, x, self.log_sigma)

    def forward(self, x: torch.Tensor, y: torch.Tensor | int | None = None,
                generator: torch.Generator | None = None) -> tuple[DiagonalGaussian, torch.Tensor]:
        """Encode, draw one reparameterised z, decode. Returns (posterior, likelihood params)."""
        if isinstance(y, torch.Generator):  # the older positional call forward(x, generator)
            y, generator = None, y
        posterior = self.encode(x, y)
        return posterior, self.decode(posterior.sample(generator), y)

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | int | None = None) -> torch.Tensor:
        """(B, C, H, W) (and labels y) -> (B, C, H, W) mean image decoded from the posterior mode."""
        return self.decode_image(self.encode(x, y).mode(), y)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_model(config: ModelConfig, generator: torch.Generator | None = None, init: bool = True) -> VAE:
    """Build a model without touching the process-wide RNG (many sessions share it).

    Layers are created on the meta device and materialised empty; then, unless ``init`` is
    False (a checkpoint will fill them), weights are drawn from ``generator`` (default: seed 0)
    with PyTorch's default layer init: Kaiming-uniform (a=sqrt(5)) weights and
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) biases.
    """
    with torch.device("meta"):
        model = VAE(config)
    model = model.to_empty(device="cpu")
    with torch.no_grad():
        if config.likelihood == "gaussian":
            model.log_sigma.fill_(math.log(config.sigma))
    if init:
        init_weights(model, generator if generator is not None else torch.Generator().manual_seed(0))
    return model


@torch.no_grad()
def init_weights(model: nn.Module, generator: torch.Generator) -> None:
    """Re-initialise every Linear/Conv layer of ``model`` from ``generator``."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            if module.bias is not None:
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(module.weight)
                bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
