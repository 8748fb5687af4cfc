"""VAE models built from a :class:`vae.config.ModelConfig`.

Images are float tensors ``(B, C, H, W)`` in [0, 1]; latents are ``(B, D)``.
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


class MLPEncoder(nn.Module):
    """(B, C, H, W) -> posterior parameters (B, 2D): flatten, hidden layers, linear head."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.net = _mlp([cfg.num_pixels, *cfg.hidden, 2 * cfg.latent_dim], cfg.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(start_dim=1))


class MLPDecoder(nn.Module):
    """(B, D) -> (B, C, H, W) likelihood parameters (logits or means)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.shape = cfg.image_shape
        self.net = _mlp([cfg.latent_dim, *reversed(cfg.hidden), cfg.num_pixels], cfg.activation)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)


class ConvEncoder(nn.Module):
    """Stride-2 convolutions (kernel 4) -> flatten -> fc -> posterior parameters (B, 2D)."""

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
        self.fc = nn.Sequential(nn.Linear(in_ch * h * w, cfg.conv_fc), act(),
                                nn.Linear(cfg.conv_fc, 2 * cfg.latent_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).flatten(start_dim=1))


class ConvDecoder(nn.Module):
    """(B, D) -> fc -> reshape -> transposed convolutions mirroring :class:`ConvEncoder`."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        act = _ACTIVATIONS[cfg.activation]
        n = len(cfg.conv_channels)
        hs, ws = conv_sizes(cfg.height, n), conv_sizes(cfg.width, n)
        chans = list(cfg.conv_channels)
        self.start = (chans[-1], hs[-1], ws[-1])
        self.fc = nn.Sequential(
            nn.Linear(cfg.latent_dim, cfg.conv_fc), act(), nn.Linear(cfg.conv_fc, math.prod(self.start)), act()
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
    """Variational autoencoder (Kingma & Welling 2014) with a diagonal-Gaussian posterior."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        if config.arch == "mlp":
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

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """(B, C, H, W) images in [0, 1] -> posterior over (B, D) latents."""
        h = self.encoder(x)
        mean, logvar = h.chunk(2, dim=-1)
        return DiagonalGaussian(mean, logvar.clamp(-30.0, 20.0))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(..., D) latents -> (..., C, H, W) likelihood parameters (logits for Bernoulli)."""
        lead = z.shape[:-1]
        out = self.decoder(z.reshape(-1, z.shape[-1]))
        return out.view(*lead, *self.config.image_shape)

    def decode_image(self, z: torch.Tensor) -> torch.Tensor:
        """(..., D) latents -> (..., C, H, W) mean images in [0, 1]."""
        params = self.decode(z)
        if self.config.likelihood == "bernoulli":
            return torch.sigmoid(params)
        return params.clamp(0.0, 1.0)

    def log_likelihood(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per image: ``params`` (..., C, H, W) from :meth:`decode`, result (...)."""
        if self.config.likelihood == "bernoulli":
            return bernoulli_log_likelihood(params, x)
        return gaussian_log_likelihood(params, x, self.log_sigma)

    def forward(self, x: torch.Tensor,
                generator: torch.Generator | None = None) -> tuple[DiagonalGaussian, torch.Tensor]:
        """Encode, draw one reparameterised z, decode. Returns (posterior, likelihood params)."""
        posterior = self.encode(x)
        return posterior, self.decode(posterior.sample(generator))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W) mean image decoded from the posterior mode."""
        return self.decode_image(self.encode(x).mode())

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
