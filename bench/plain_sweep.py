"""The plain PyTorch peers of a sweep: the seed's experiment (1000 full-batch epochs of SGD on the
clusters) at K settings of lr x momentum x seed, torch only, no framework and no artefacts.

- `one_by_one`: the K settings one after another in one process, with torch.optim.SGD (what a user
  writes by hand; the floor of any launcher that trains one job at a time);
- `stacked`: the K models as one, `[K, N, d]` batched products, the SGD update written out with
  per-setting lr and momentum as `[K]` tensors (the near-limit of stacking);
- `param_groups`: the same stacked model with torch.optim.SGD, one param group per setting (what
  torch.optim can do: its tensor lr must have one element), to measure against the hand update.

    python bench/plain_sweep.py stacked 100    # one peer at K = 100: prints its loop's seconds
"""

from __future__ import annotations

import itertools
import sys
import time

import torch
from plain import clusters, model
from torch.nn.functional import binary_cross_entropy_with_logits as bce

LRS, MOMENTA = (0.003, 0.01, 0.03, 0.1, 0.3), (0.0, 0.5, 0.9, 0.95)


def settings(k: int) -> list[tuple[float, float, int]]:
    """The README's grid (5 lr x 4 momenta x seeds), as long as needed: (lr, momentum, seed)."""
    seeds = range(-(-k // (len(LRS) * len(MOMENTA))))
    return list(itertools.product(LRS, MOMENTA, seeds))[:k]


def _data(k: int) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*(clusters(1000, seed=seed) for _, _, seed in settings(k)), strict=True)
    return torch.stack(xs)[:, :1600], torch.stack(ys)[:, :1600]


def one_by_one(k: int, epochs: int = 1000) -> float:
    x, y = _data(k)
    start = time.perf_counter()
    for i, (lr, momentum, seed) in enumerate(settings(k)):
        torch.manual_seed(seed)
        net = model()
        optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
        for _ in range(epochs):
            optimizer.zero_grad()
            bce(net(x[i]).squeeze(-1), y[i]).backward()
            optimizer.step()
    return time.perf_counter() - start


def _stacked_weights(k: int) -> list[torch.Tensor]:
    torch.manual_seed(0)
    shapes = [(k, 5, 2), (k, 5), (k, 5), (k,)]
    return [(torch.randn(shape) * 0.3).requires_grad_() for shape in shapes]


def _loss(weights: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    w1, b1, w2, b2 = weights
    w = torch.bmm(w2[:, None, :], w1)
    c = (w2 * b1).sum(1) + b2
    logits = torch.baddbmm(c[:, None, None], x, w.transpose(1, 2)).squeeze(-1)
    return bce(logits, y, reduction="none").mean(1).sum()


def stacked(k: int, epochs: int = 1000) -> float:
    x, y = _data(k)
    weights = _stacked_weights(k)
    lr = torch.tensor([s[0] for s in settings(k)])
    momentum = torch.tensor([s[1] for s in settings(k)])
    buffers: list[torch.Tensor | None] = [None] * len(weights)
    start = time.perf_counter()
    for _ in range(epochs):
        for p in weights:
            p.grad = None
        _loss(weights, x, y).backward()
        with torch.no_grad():
            for i, p in enumerate(weights):
                assert p.grad is not None
                shape = (-1,) + (1,) * (p.dim() - 1)
                buffer = buffers[i]
                buffers[i] = buffer = (
                    p.grad.clone() if buffer is None else buffer.mul_(momentum.view(shape)).add_(p.grad)
                )
                p.sub_(lr.view(shape) * buffer)
    return time.perf_counter() - start


def param_groups(k: int, epochs: int = 1000) -> float:
    x, y = _data(k)
    weights = _stacked_weights(k)
    # One group per setting needs one tensor per setting: each member's slices as separate leaves.
    members = [[p[i].detach().clone().requires_grad_() for p in weights] for i in range(k)]
    groups = [{"params": m, "lr": lr, "momentum": mo} for m, (lr, mo, _) in zip(members, settings(k), strict=True)]
    optimizer = torch.optim.SGD(groups, lr=0.01)
    start = time.perf_counter()
    for _ in range(epochs):
        optimizer.zero_grad()
        _loss([torch.stack(ps) for ps in zip(*members, strict=True)], x, y).backward()
        optimizer.step()
    return time.perf_counter() - start


PEERS = {peer.__name__: peer for peer in (one_by_one, stacked, param_groups)}

if __name__ == "__main__":
    torch.set_num_threads(1)  # as the project's jobs (cpu_threads: 1)
    name, k = sys.argv[1], int(sys.argv[2])
    print(f"{PEERS[name](k):.3f}")
