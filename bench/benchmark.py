"""The speed benchmark: the project next to two peers measured in the same run, a plain PyTorch
loop (bench/plain.py) and Lightning's own floor, `Trainer(barebones=True)` with nothing but a
`training_step` on the same tensors and steps (bench/bare_lightning.py).

    python bench/benchmark.py           # the full benchmark (~10 minutes on 2 CPU cores)
    python bench/benchmark.py --quick   # tiny sizes and one repeat: checks the code paths only
    python bench/benchmark.py --sweep   # only the sweep rows (bench/sweeps.py, ~25 minutes)

Writes benchmark.md (the table), results.json and scale.png to bench/results/ (or --out).
Ratios, not absolute times, are the figures: every side runs on the same machine, in the same run,
the timed loops interleaved (plain, floor, project, plain, ...) so that the machine's drift
reaches all of them; each figure is the median of the repeats, with the spread of the ratios.
On a machine with CUDA, the fit loops and the scale series are measured on the GPU as well.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "bench")]

SEED_EPOCHS = 1000
# The mini-batch row: batches of 64 of the default run's 1600 training points, 25 steps an epoch,
# 40 epochs: 1000 steps, as many as the full-batch row.
MINI_BATCH, MINI_BATCH_EPOCHS = 64, 40
FULL = {"repeats": 5, "usual_epochs": SEED_EPOCHS, "sizes": [10**3, 10**4, 10**5, 10**6, 10**7]}
QUICK = {"repeats": 1, "usual_epochs": 5, "sizes": [10**3]}
IMPLS = ("project", "plain", "floor")
LARGE_BATCH = 65536
FRESH_DRAW_PER_CLASS = 100_000  # 200,000 points never seen in training


def epochs_for(size: int) -> int:
    """Enough epochs for a stable throughput figure at each size, a few seconds each."""
    return max(2, min(300, 10**6 // size))


def run(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def median_wall(command: list[str], repeats: int) -> float:
    return statistics.median(run(command) for _ in range(repeats))


def interleaved_walls(commands: dict[str, list[str]], repeats: int) -> dict[str, list[float]]:
    """Each command's wall times, the commands taking turns."""
    walls: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            walls[name].append(run(command))
    return walls


def project_config(overrides: list[str], run_dir: Path):
    """The config `python src/train.py <overrides>` would run, in `run_dir`."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("train", overrides=[*overrides, f"run_dir={run_dir}"])


def project_fit(overrides: list[str], work_dir: Path, profile: Any = None) -> tuple[float, Any]:
    """`trainer.fit` of the config `python src/train.py <overrides>` would run: (seconds, the trained
    model and its DataModule). The data are drawn and split before the clock starts, as the peers' are."""
    from cluster_logreg.core.quiet import quiet_lightning
    from cluster_logreg.training.build import build

    cfg = project_config(overrides, work_dir)
    quiet_lightning()  # as the entry point does, once Lightning is imported
    datamodule, model, trainer = build(cfg)  # also sets the project's CPU threads, which the peers then share
    datamodule.trainer = trainer
    datamodule.setup("fit")
    start = time.perf_counter()
    with contextlib.redirect_stdout(open(os.devnull, "w")), profile or contextlib.nullcontext():
        trainer.fit(model, datamodule=datamodule)
    _synchronize()
    return time.perf_counter() - start, (model, datamodule)


def _synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def fit_loop(device: str, work_dir: Path, repeats: int, batch_size: int | None = None) -> dict:
    """Sections 1 and 1b: the default experiment's fit against both peers on the same tensors and
    steps: full batches for 1000 epochs, or (`batch_size`) 1000 mini-batch steps."""
    import bare_lightning
    import plain
    import torch

    accelerator = "gpu" if device == "cuda" else "cpu"
    epochs = SEED_EPOCHS if batch_size is None else MINI_BATCH_EPOCHS
    overrides = [f"trainer.accelerator={accelerator}", f"trainer.max_epochs={epochs}"]
    overrides += [f"data.batch_size={batch_size}"] if batch_size else []
    seconds: dict[str, list[float]] = {impl: [] for impl in IMPLS}
    x = y = None
    for repeat in range(repeats + 1):  # the first round warms up (first calls allocate) and is not counted
        elapsed, (model, datamodule) = project_fit(overrides, work_dir / f"fit_{device}_{batch_size}_{repeat}")
        if x is None:
            x, y = (t.to(device) for t in datamodule.splits["train"])  # the project's own training split
        torch.manual_seed(0)
        peers = {
            "plain": plain.fit(plain.model(device=device), x, y, epochs=epochs, batch_size=batch_size),
            "floor": bare_lightning.fit(plain.model(device=device), x, y, epochs=epochs, batch_size=batch_size),
        }
        if repeat:
            for impl, value in {"project": elapsed, **peers}.items():
                seconds[impl].append(value)
    steps = epochs * len(datamodule.train_dataloader())
    result = {"device": device, "batch_size": batch_size or len(x), "epochs": epochs, "steps": steps}
    result |= {f"{impl}_ms_per_step": 1000 * statistics.median(seconds[impl]) / steps for impl in IMPLS}
    result["ratios"] = {
        peer: [p / q for p, q in zip(seconds["project"], seconds[peer], strict=True)] for peer in ("plain", "floor")
    }
    if batch_size is None:  # the accuracy of the default run, on points it never saw
        fresh_x, fresh_y = plain.clusters(FRESH_DRAW_PER_CLASS, seed=12345, device=device)
        model = model.to(device).eval()
        with torch.no_grad():
            result["fresh_draw_acc"] = ((model(fresh_x) > 0).float() == fresh_y).float().mean().item()
        result |= {"fresh_draw_points": 2 * FRESH_DRAW_PER_CLASS, "bayes_acc": datamodule.population.bayes_accuracy()}
    return result


def usual_lightning(epochs: int, work_dir: Path) -> float:
    """Section 4: ms/epoch of the usual Lightning way on the seed's data."""
    from lightning import Trainer, seed_everything
    from usual_lightning import UsualClassifier, loaders

    from cluster_logreg.data.clusters import GaussianClustersDataModule

    seed_everything(0, verbose=False)
    datamodule = GaussianClustersDataModule()
    datamodule.setup("fit")
    train, val = loaders(datamodule.splits["train"], datamodule.splits["val"])
    trainer = Trainer(max_epochs=epochs, default_root_dir=work_dir / "usual", accelerator="cpu", devices=1)
    start = time.perf_counter()
    with contextlib.redirect_stderr(open(os.devnull, "w")), contextlib.redirect_stdout(open(os.devnull, "w")):
        trainer.fit(UsualClassifier(), train, val)
    return 1000 * (time.perf_counter() - start) / epochs


def scale_point(impl: str, size: int, device: str, work_dir: Path) -> dict:
    """Section 3, run in a fresh process per point so that its peak memory is its own."""
    import bare_lightning
    import plain
    import torch

    from cluster_logreg.core.splits import split_sizes

    epochs = epochs_for(size)
    accelerator = "gpu" if device == "cuda" else "cpu"
    overrides = [f"data.n_per_class={size // 2}", f"trainer.max_epochs={epochs}", f"trainer.accelerator={accelerator}"]
    overrides.append("cpu_threads=null")  # torch's default (one per core), as the plain loop here has
    cfg = project_config(overrides, work_dir / f"scale_{size}")
    # Both sides train on as many points as the project's split gives its training set.
    n_train = split_sizes(size, cfg.data.val_fraction, cfg.data.test_fraction)[0]
    batch = min(LARGE_BATCH, n_train)
    baseline = _rss_mb()  # after the imports: what the data and the loop add comes on top
    if impl == "project":
        seconds, _ = project_fit([*overrides, f"data.batch_size={batch}"], work_dir / f"scale_{size}")
    else:
        torch.manual_seed(0)
        x, y = plain.clusters(size // 2, seed=0, device=device)
        train = torch.randperm(size, device=device)[:n_train]
        peer = plain if impl == "plain" else bare_lightning
        seconds = peer.fit(plain.model(device=device), x[train], y[train], epochs=epochs, batch_size=batch)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu_peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
    return {
        "samples_per_second": n_train * epochs / seconds,
        "peak_rss_mb": peak,
        "peak_above_imports_mb": peak - baseline,
        "gpu_peak_mb": gpu_peak,
        "epochs": epochs,
        "batch_size": batch,
    }


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def scale_series(sizes: list[int], device: str, work_dir: Path) -> list[dict]:
    rows = []
    for size in sizes:
        row = {"size": size, "device": device}
        for impl in IMPLS:
            command = [sys.executable, __file__, "--scale-point", impl, str(size), device, "--out", str(work_dir)]
            out = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True).stdout
            row[impl] = json.loads(out.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"  scale {size:>9,} points on {device}: "
            + ", ".join(f"{impl} {row[impl]['samples_per_second']:,.0f}/s" for impl in IMPLS),
            flush=True,
        )
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for device in sorted({r["device"] for r in rows}):
        series = [r for r in rows if r["device"] == device]
        sizes = [r["size"] for r in series]
        for impl, style, name in (
            ("project", "o-", "this project (Lightning)"),
            ("plain", "s--", "plain PyTorch loop"),
            ("floor", "^:", "Lightning, barebones"),
        ):
            label = f"{name}, {device}"
            ax.plot(sizes, [r[impl]["samples_per_second"] for r in series], style, label=label)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="data size (points)",
        ylabel="training samples / second",
        title=f"Training throughput (full batch up to {LARGE_BATCH:,} points, then mini-batches)",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def spread(ratios: list[float]) -> str:
    return f"{min(ratios):.2f}-{max(ratios):.2f}x" if len(ratios) > 1 else ""


def _fit_row(fit: dict, label: str, target: str, limit: float | None) -> tuple[str, ...]:
    ms = {impl: fit[f"{impl}_ms_per_step"] for impl in IMPLS}
    to_plain, to_floor = ms["project"] / ms["plain"], ms["project"] / ms["floor"]
    return (
        label,
        *(f"{ms[impl]:.3f}" for impl in IMPLS),
        f"{to_plain:.2f}x",
        f"{to_floor:.2f}x",
        spread(fit["ratios"]["floor"]) and f"{spread(fit['ratios']['floor'])} of floor",
        target,
        verdict(to_floor <= limit) if limit else "",
    )


def report(results: dict) -> str:
    fits = results["fit_loop"]
    full, mini = (
        next(f for f in fits if f["device"] == "cpu" and f["steps"] == f["epochs"]),
        next(f for f in fits if f["device"] == "cpu" and f["steps"] != f["epochs"]),
    )
    e2e, startup, usual = results["end_to_end"], results["startup"], results["usual_ms_per_epoch"]
    largest = [r for r in results["scale"] if r["device"] == "cpu"][-1]
    e2e_s = {impl: statistics.median(e2e[impl]) for impl in IMPLS}
    e2e_ratios = [p / q for p, q in zip(e2e["project"], e2e["plain"], strict=True)]
    speed = {impl: largest[impl]["samples_per_second"] for impl in IMPLS}
    memory = {impl: largest[impl]["peak_above_imports_mb"] for impl in IMPLS}
    usual_ratio = usual / full["project_ms_per_step"]
    gap_pp = 100 * (full["bayes_acc"] - full["fresh_draw_acc"])
    size = f"10^{len(str(largest['size'])) - 1}"
    rows = [
        _fit_row(full, f"Fit, seed scale ({full['epochs']} full-batch epochs), ms/step", "<= 1.3x floor", 1.3),
        _fit_row(
            mini, f"Fit, mini-batches of {mini['batch_size']} ({mini['steps']} steps), ms/step", "<= 1.3x floor", 1.3
        ),
        *(
            _fit_row(f, f"Fit on {f['device']}, batch {f['batch_size']:,}, ms/step", "(reported)", None)
            for f in fits
            if f["device"] != "cpu"
        ),
        (
            "End to end: `python src/train.py`, `bench/plain.py`, `bench/bare_lightning.py`, s",
            *(f"{e2e_s[impl]:.2f}" for impl in IMPLS),
            f"{e2e_s['project'] / e2e_s['plain']:.2f}x",
            f"{e2e_s['project'] / e2e_s['floor']:.2f}x",
            spread(e2e_ratios) and f"{spread(e2e_ratios)} of plain",
            "<= 1.6x plain",
            verdict(e2e_s["project"] / e2e_s["plain"] <= 1.6),
        ),
        (
            f"Throughput at {size} points, samples/s",
            *(f"{speed[impl]:,.0f}" for impl in IMPLS),
            f"{speed['project'] / speed['plain']:.2f}x",
            f"{speed['project'] / speed['floor']:.2f}x",
            "",
            ">= 0.95x plain",
            verdict(speed["project"] / speed["plain"] >= 0.95),
        ),
        (
            f"Peak memory at {size} points, MB above the imports",
            *(f"{memory[impl]:.0f}" for impl in IMPLS),
            f"{memory['project'] / memory['plain']:.2f}x",
            f"{memory['project'] / memory['floor']:.2f}x",
            "",
            "<= 1.5x plain",
            verdict(memory["project"] / memory["plain"] <= 1.5),
        ),
        (
            "The usual Lightning way (DataLoader, log every step, val + ckpt every epoch), ms/epoch",
            f"{full['project_ms_per_step']:.3f}",
            f"{usual:.2f} (usual)",
            "",
            f"{usual_ratio:.1f}x faster",
            "",
            "",
            ">= 15x faster",
            verdict(usual_ratio >= 15),
        ),
        (
            "`python src/train.py --help`, s",
            f"{startup['help_s']:.2f}",
            "",
            "",
            "",
            "",
            "",
            "< 1.5 s",
            verdict(startup["help_s"] < 1.5),
        ),
        (
            "`python src/train.py --cfg job`, s",
            f"{startup['cfg_job_s']:.2f}",
            "",
            "",
            "",
            "",
            "",
            "< 1.5 s",
            verdict(startup["cfg_job_s"] < 1.5),
        ),
        (
            f"Accuracy of the default run on a fresh draw of {full['fresh_draw_points']:,} points",
            f"{100 * full['fresh_draw_acc']:.3f} %",
            f"{100 * full['bayes_acc']:.3f} % (Bayes)",
            "",
            f"{gap_pp:.3f} pp below",
            "",
            "",
            "<= 0.05 pp",
            verdict(gap_pp <= 0.05),
        ),
    ]
    lines = [
        f"Measured {results['date']} on {results['machine']}, torch {results['torch']}, "
        f"lightning {results['lightning']}{' (quick mode: tiny sizes, not figures)' if results['quick'] else ''}; "
        f"medians of {results['repeats']} interleaved repeats, spread: the lowest and highest ratio of a repeat.",
        "",
        "| measure | project | plain PyTorch | Lightning floor | x plain | x floor | spread | target | met |",
        "|---|---|---|---|---|---|---|---|---|",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        "| points | device | batch | epochs | project samples/s | plain | floor | x plain | x floor "
        "| project MB | plain MB | floor MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["scale"]:
        p, q, f = r["project"], r["plain"], r["floor"]
        lines.append(
            f"| {r['size']:,} | {r['device']} | {p['batch_size']:,} | {p['epochs']} | {p['samples_per_second']:,.0f} "
            f"| {q['samples_per_second']:,.0f} | {f['samples_per_second']:,.0f} "
            f"| {p['samples_per_second'] / q['samples_per_second']:.2f}x "
            f"| {p['samples_per_second'] / f['samples_per_second']:.2f}x "
            + "".join(f"| {impl['peak_above_imports_mb']:.0f} " for impl in (p, q, f))
            + "|"
        )
    lines += [
        "",
        "ms/step: one full-batch epoch is one step. Floor: `Trainer(barebones=True)` with only a `training_step`,"
        " on the same tensors and steps. MB: peak resident memory of the process above its resident memory"
        " after the imports.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: checks the code paths")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="where the results go")
    parser.add_argument("--sweep", action="store_true", help="only the sweep rows: sweep.md, sweep.json")
    parser.add_argument("--scale-point", nargs=3, metavar=("IMPL", "SIZE", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.scale_point:
        impl, size, device = args.scale_point
        with tempfile.TemporaryDirectory() as work_dir:
            print(json.dumps(scale_point(impl, int(size), device, Path(work_dir))))
        return

    if args.sweep:
        sweeps(args, QUICK if args.quick else FULL)
        return

    import lightning
    import torch

    settings = QUICK if args.quick else FULL
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    train = [sys.executable, "src/train.py"]
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPU cores" + (f", {torch.cuda.get_device_name()}" if len(devices) > 1 else ""),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "quick": args.quick,
        "repeats": settings["repeats"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        work_dir = Path(tmp)
        print("1/6 fit loops at the seed's scale: full batches, then mini-batches", flush=True)
        results["fit_loop"] = [
            fit_loop(device, work_dir, settings["repeats"], batch_size)
            for device in devices
            for batch_size in (None, MINI_BATCH)
        ]
        print("2/6 end to end", flush=True)
        commands = {
            "project": [*train, f"hydra.run.dir={work_dir}/e2e"],
            "plain": [sys.executable, "bench/plain.py"],
            "floor": [sys.executable, "bench/bare_lightning.py"],
        }
        results["end_to_end"] = interleaved_walls(commands, settings["repeats"])
        print("3/6 scale", flush=True)
        results["scale"] = [row for device in devices for row in scale_series(settings["sizes"], device, work_dir)]
        print("4/6 the usual Lightning way", flush=True)
        results["usual_ms_per_epoch"] = usual_lightning(settings["usual_epochs"], work_dir)
        print("5/6 start-up", flush=True)
        results["startup"] = {
            "help_s": median_wall([*train, "--help"], settings["repeats"]),
            "cfg_job_s": median_wall([*train, "--cfg", "job"], settings["repeats"]),
        }
    print("6/6 report (the sweep rows: --sweep)", flush=True)
    table = report(results)
    (args.out / "benchmark.md").write_text(table)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results["scale"], args.out / "scale.png")
    print(table)
    print(f"written: {args.out}/benchmark.md, results.json, scale.png")


def sweeps(args: argparse.Namespace, settings: dict) -> None:
    from sweeps import sweep_report, sweep_rows

    with tempfile.TemporaryDirectory() as tmp:
        results = {"date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} CPU cores", "quick": args.quick}
        results |= sweep_rows(Path(tmp), settings["repeats"], args.quick)
    table = sweep_report(results)
    (args.out / "sweep.md").write_text(table)
    (args.out / "sweep.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table)
    print(f"written: {args.out}/sweep.md, sweep.json")


if __name__ == "__main__":
    main()
