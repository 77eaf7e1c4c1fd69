"""Where the default fit's time goes: the same 1000 full-batch epochs with the project's features
switched off one at a time, next to the plain loop and Lightning's bare floor, and a cProfile of
the default fit.

    python bench/profile_fit.py [--repeats 5] [--epochs 1000] [--cprofile]

Prints a markdown table (ms/epoch, medians of the repeats, configurations interleaved so that
the machine's drift spreads over all of them). The README's table of where the time goes is its
output. The test suite runs it tiny (--epochs 20 --repeats 1) so that it does not rot; no time is
asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "bench")]

# Each row: the default fit without one feature (Hydra overrides of `python src/train.py`).
WITHOUT = {
    "the divergence check (EarlyStopping)": ["~callbacks.divergence"],
    "best.ckpt (ModelCheckpoint)": ["~callbacks.model_checkpoint"],
    "last.ckpt every 100 epochs": ["~callbacks.last_checkpoint"],
    "the signal handler": ["~callbacks.stop_on_signal"],
    "the epoch line": ["~callbacks.epoch_report"],
    "the pictures and histograms": ["~callbacks.decision_boundary", "~callbacks.margin_histogram"],
    "the learned map's text": ["~callbacks.linear_map"],
    "the TensorBoard logger": ["~logger"],
    "validation and best.ckpt (which needs it)": [
        "+trainer.limit_val_batches=0",
        "trainer.num_sanity_val_steps=0",
        "~callbacks.model_checkpoint",
    ],
    "every callback and the logger": ["~callbacks", "~logger"],
}


def project_fit(overrides: list[str], epochs: int, profile: cProfile.Profile | None = None) -> float:
    from benchmark import project_fit as timed_fit

    seconds, _ = timed_fit([*overrides, f"trainer.max_epochs={epochs}"], Path(tempfile.mkdtemp()), profile)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=1000, help="full-batch epochs (steps) of each fit")
    parser.add_argument("--cprofile", action="store_true", help="also print the default fit's top functions")
    args = parser.parse_args()

    import bare_lightning
    import plain
    import torch

    torch.set_num_threads(1)  # as the project's default run (cpu_threads: 1)
    x, y = plain.clusters(800, seed=0)  # the default run's 1600 training points
    epochs = args.epochs
    configs: dict[str, object] = {
        "plain PyTorch loop": lambda: plain.fit(plain.model(), x, y, epochs),
        "Lightning bare floor (barebones, training_step only)": lambda: bare_lightning.fit(plain.model(), x, y, epochs),
        "project default fit": lambda: project_fit([], epochs),
    }
    for feature, overrides in WITHOUT.items():
        configs[f"default without {feature}"] = lambda o=overrides: project_fit(o, epochs)
    seconds: dict[str, list[float]] = {name: [] for name in configs}
    for fit in configs.values():  # warm-up
        fit()  # type: ignore[operator]
    for _ in range(args.repeats):
        for name, fit in configs.items():
            seconds[name].append(fit())  # type: ignore[operator]
    plain_ms = 1000 * statistics.median(seconds["plain PyTorch loop"]) / epochs
    floor_ms = 1000 * statistics.median(seconds["Lightning bare floor (barebones, training_step only)"]) / epochs
    print(f"{epochs} full-batch epochs, {os.cpu_count()} CPU cores, medians of {args.repeats} (min-max)\n")
    print("| configuration | ms/epoch | spread | x plain | x floor |\n|---|---|---|---|---|")
    for name, times in seconds.items():
        ms = 1000 * statistics.median(times) / epochs
        spread = f"{1000 * min(times) / epochs:.2f}-{1000 * max(times) / epochs:.2f}"
        print(f"| {name} | {ms:.2f} | {spread} | {ms / plain_ms:.2f}x | {ms / floor_ms:.2f}x |")
    if args.cprofile:
        profile = cProfile.Profile()
        project_fit([], epochs, profile)
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(30)
        print(out.getvalue())


if __name__ == "__main__":
    main()
