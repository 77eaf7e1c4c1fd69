"""The plain PyTorch reference: the tutorial's experiment as a hand-written loop, torch only.

Run as a script it is the end-to-end peer of `python src/train.py`: import, data, 1000 full-batch
SGD steps (with zero_grad), test accuracy. The benchmark also imports `clusters` and `fit` to time
the same loop in-process next to the project's Lightning fit.
"""

from __future__ import annotations

import time

import torch
from torch import nn


def clusters(n_per_class: int, seed: int, n_features: int = 2, device: str = "cpu"):
    """The tutorial's clusters: Normal(+2.5, 1) + 1.3 (label 0) and Normal(-2.5, 1) + 1.3 (label 1)."""
    generator = torch.Generator().manual_seed(seed)
    shape = (n_per_class, n_features)
    x = torch.cat(
        [torch.normal(2.5, 1.0, shape, generator=generator), torch.normal(-2.5, 1.0, shape, generator=generator)]
    )
    y = torch.cat([torch.zeros(n_per_class), torch.ones(n_per_class)])
    return (x + 1.3).to(device), y.to(device)


def model(n_features: int = 2, device: str = "cpu") -> nn.Module:
    return nn.Sequential(nn.Linear(n_features, 5), nn.Linear(5, 1)).to(device)


def fit(net: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, batch_size: int | None = None) -> float:
    """SGD(0.01, 0.9) on BCE-with-logits; mini-batches reshuffled each epoch. Returns seconds."""
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.BCEWithLogitsLoss()
    batch_size = batch_size or len(x)
    if x.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(epochs):
        if batch_size < len(x):
            order = torch.randperm(len(x), device=x.device)
            xs, ys = x[order], y[order]
        else:
            xs, ys = x, y
        for i in range(0, len(xs), batch_size):
            optimizer.zero_grad()
            loss = loss_fn(net(xs[i : i + batch_size]).squeeze(-1), ys[i : i + batch_size])
            loss.backward()
            optimizer.step()
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return ((net(x).squeeze(-1) > 0).float() == y).float().mean().item()


if __name__ == "__main__":
    torch.manual_seed(0)
    x, y = clusters(1000, seed=0)
    order = torch.randperm(len(x))
    train, test = order[:1600], order[1800:]
    net = model()
    seconds = fit(net, x[train], y[train], epochs=1000)
    print(f"plain PyTorch: 1000 epochs in {seconds:.2f} s, test accuracy {accuracy(net, x[test], y[test]):.4f}")
