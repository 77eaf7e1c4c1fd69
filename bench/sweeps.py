"""The sweep rows of the benchmark (`python bench/benchmark.py --sweep` runs only these): the README's
grid of 5 learning rates x 4 momenta x 5 seeds, 1000 epochs each, every artefact written, with the
stacked launcher, next to one default run and to the plain PyTorch peers of bench/plain_sweep.py
(the 100 settings one after another, and stacked with the SGD update by hand), all measured in
turns in the same run; then what one more job costs in a stack, and torch.optim's one param group
per setting against the hand-written update."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GRID = ("model.optimizer.lr=0.003,0.01,0.03,0.1,0.3", "model.optimizer.momentum=0,0.5,0.9,0.95")
TEN = ("model.optimizer.lr=0.003,0.01,0.03,0.1,0.3", "model.optimizer.momentum=0,0.9")  # 10 jobs


def _wall(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, done.stdout


def sweep_rows(work_dir: Path, repeats: int, quick: bool) -> dict:
    train = [sys.executable, "src/train.py"]
    plain = [sys.executable, "bench/plain_sweep.py"]
    epochs = ["trainer.max_epochs=20"] if quick else []
    jobs = 10 if quick else 100
    grid = list(TEN) if quick else [*GRID, "seed=0,1,2,3,4"]
    walls: dict[str, list[float]] = {
        "default run": [],
        "stacked": [],
        "stacked, 10 jobs": [],
        "plain one by one": [],
        "plain stacked": [],
    }
    for i in range(repeats):  # in turns, so the machine's drift reaches every row
        walls["default run"].append(_wall([*train, *epochs, f"hydra.run.dir={work_dir}/default{i}"])[0])
        walls["stacked"].append(
            _wall([*train, "-m", "hydra/launcher=stacked", *grid, *epochs, f"hydra.sweep.dir={work_dir}/stacked{i}"])[0]
        )
        walls["stacked, 10 jobs"].append(
            _wall([*train, "-m", "hydra/launcher=stacked", *TEN, *epochs, f"hydra.sweep.dir={work_dir}/ten{i}"])[0]
        )
        walls["plain one by one"].append(_wall([*plain, "one_by_one", str(jobs)])[0])
        walls["plain stacked"].append(_wall([*plain, "stacked", str(jobs)])[0])
    sizes = [1, 10] if quick else [1, 10, 100, 1000]
    loops = {str(k): float(_wall([*plain, "stacked", str(k)])[1]) for k in sizes}
    groups = {
        "hand update": float(_wall([*plain, "stacked", str(jobs)])[1]),
        "param groups": float(_wall([*plain, "param_groups", str(jobs)])[1]),
    }
    return {"jobs": jobs, "walls": walls, "plain_stacked_loop_s": loops, "update_loop_s": groups}


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _spread(values: list[float]) -> str:
    return f"{min(values):.1f}-{max(values):.1f}"


def sweep_report(results: dict) -> str:
    walls, jobs = results["walls"], results["jobs"]
    default = _median(walls["default run"])
    rows = [
        ("one default run, `python src/train.py`", walls["default run"]),
        (f"the {jobs}-job grid, `hydra/launcher=stacked`, every artefact written", walls["stacked"]),
        ("10 of those jobs, stacked", walls["stacked, 10 jobs"]),
        (f"plain PyTorch: the {jobs} settings one after another, one process", walls["plain one by one"]),
        (f"plain PyTorch: the {jobs} settings stacked, SGD by hand (the near-limit)", walls["plain stacked"]),
    ]
    lines = ["| what | wall, median (range) | x one default run |", "|---|---|---|"]
    lines += [f"| {what} | {_median(w):.1f} s ({_spread(w)}) | {_median(w) / default:.2f}x |" for what, w in rows]
    extra = (
        (_median(walls["stacked"]) - _median(walls["stacked, 10 jobs"])) / (jobs - 10) if jobs > 10 else float("nan")
    )
    lines += ["", f"One more job in a stack costs {extra:.2f} s of wall (from 10 to {jobs} jobs, medians)."]
    loops = results["plain_stacked_loop_s"]
    lines += ["", "| settings stacked (plain PyTorch, 1000 epochs) | loop | per setting |", "|---|---|---|"]
    lines += [f"| {k} | {s:.2f} s | {1e3 * s / int(k):.1f} ms |" for k, s in loops.items()]
    update = results["update_loop_s"]
    lines += [
        "",
        f"The stacked update at {jobs} settings: by hand {update['hand update']:.2f} s, "
        f"torch.optim.SGD with one param group per setting {update['param groups']:.2f} s (1000 steps).",
    ]
    return "\n".join(lines) + "\n"
