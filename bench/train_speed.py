"""Training speed: this library vs the PyTorch examples VAE's plain DataLoader loop, in one run.

Both train the same reference model (784-400-20 MLP, ReLU, batch 128, Adam 1e-3, summed BCE
+ KL) on full MNIST for the same number of epochs. Prints the median seconds per epoch of
each, their ratio (target: library <= 0.5x plain) and both test -ELBOs (target: within 1 nat).

    python bench/train_speed.py --data-dir ../shared/data --epochs 3
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from vae import TrainConfig, Trainer, build_model, evaluate, load_dataset, preset_config


class ReferenceVAE(nn.Module):
    """Copied in spirit from pytorch/examples vae/main.py."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h1 = F.relu(self.fc1(x.view(-1, 784)))
        mu, logvar = self.fc21(h1), self.fc22(h1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def reference_loss(recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum")
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def plain_loop(root: str, epochs: int, seed: int) -> tuple[list[float], float]:
    torch.manual_seed(seed)
    tf = transforms.ToTensor()
    train = DataLoader(datasets.MNIST(root, train=True, download=False, transform=tf), batch_size=128, shuffle=True)
    test = DataLoader(datasets.MNIST(root, train=False, download=False, transform=tf), batch_size=128)
    model = ReferenceVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(epochs):
        model.train()
        t0 = time.perf_counter()
        for x, _ in train:
            opt.zero_grad()
            loss = reference_loss(*_fwd(model, x))
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    model.eval()
    total = 0.0
    with torch.no_grad():
        for x, _ in test:
            total += reference_loss(*_fwd(model, x)).item()
    return times, total / len(test.dataset)


def _fwd(model: ReferenceVAE, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    recon, mu, logvar = model(x)
    return recon, x, mu, logvar


def library(root: str, epochs: int, seed: int) -> tuple[list[float], float, float]:
    t0 = time.perf_counter()
    train, test = load_dataset("mnist", "train", data_dir=root), load_dataset("mnist", "test", data_dir=root)
    cfg = TrainConfig(epochs=epochs, batch_size=128, lr=1e-3, seed=seed)
    model = build_model(preset_config("pytorch-example"), generator=torch.Generator().manual_seed(seed))
    times: list[float] = []
    trainer = Trainer(model, train, cfg, on_epoch=lambda r: times.append(r.seconds))
    setup = time.perf_counter() - t0
    trainer.fit()
    return times, evaluate(model, test)["neg_elbo"], setup


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="../shared/data", help="folder with MNIST/raw (torchvision layout)")
    p.add_argument("--epochs", type=int, default=3, help="epochs for each side")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.epochs} epoch(s) each")
    lib_times, lib_elbo, setup = library(args.data_dir, args.epochs, args.seed)
    plain_times, plain_elbo = plain_loop(args.data_dir, args.epochs, args.seed)
    lib_med, plain_med = statistics.median(lib_times), statistics.median(plain_times)
    print(f"library : median {lib_med:.2f} s/epoch  {[f'{t:.2f}' for t in lib_times]}  (+{setup:.2f} s one-off load)")
    print(f"plain   : median {plain_med:.2f} s/epoch  {[f'{t:.2f}' for t in plain_times]}")
    print(f"ratio library/plain = {lib_med / plain_med:.3f}  (target <= 0.5)")
    print(f"test -ELBO after {args.epochs} epoch(s): library {lib_elbo:.2f}, plain {plain_elbo:.2f}, "
          f"difference {lib_elbo - plain_elbo:+.2f} nats (target within 1)")
    ok = lib_med / plain_med <= 0.5 and abs(lib_elbo - plain_elbo) <= 1.0
    print("PASS" if ok else "MISS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
