"""The speed benchmark: the project next to a plain PyTorch loop, measured in the same run.

    python bench/benchmark.py           # the full benchmark (several minutes on 2 CPU cores)
    python bench/benchmark.py --quick   # tiny sizes and one repeat: checks the code paths only

Writes benchmark.md (the table), results.json and scale.png to bench/results/ (or --out).
Ratios, not absolute times, are the figures: both sides run on the same machine, in the same run.
On a machine with CUDA, the fit loop and the scale series are measured on the GPU as well.
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

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "bench")]

SEED_EPOCHS = 1000
FULL = {"repeats": 5, "usual_epochs": SEED_EPOCHS, "sizes": [10**3, 10**4, 10**5, 10**6, 10**7]}
QUICK = {"repeats": 1, "usual_epochs": 5, "sizes": [10**3]}
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


def project_config(overrides: list[str], run_dir: Path):
    """The config `python src/train.py <overrides>` would run, in `run_dir`."""
    from hydra import compose, initialize_config_dir

    from cluster_logreg.cli import prepare_hydra

    prepare_hydra()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("train", overrides=[*overrides, f"run_dir={run_dir}"])


def fit_loop(device: str, work_dir: Path) -> dict:
    """Section 1 (and 6): the default experiment's fit against the plain loop on the same tensors."""
    import plain
    import torch

    from cluster_logreg.pipeline import build

    accelerator = "gpu" if device == "cuda" else "cpu"
    cfg = project_config([f"trainer.accelerator={accelerator}"], work_dir / f"fit_{device}")
    datamodule, model, trainer = build(cfg)  # also sets the project's CPU threads, which the plain loop then shares
    datamodule.setup("fit")
    x, y = datamodule.splits["train"]
    x, y = x.to(device), y.to(device)
    plain.fit(plain.model(device=device), x, y, epochs=50)  # warm-up: first calls allocate
    torch.manual_seed(cfg.seed)
    plain_seconds = plain.fit(plain.model(device=device), x, y, epochs=SEED_EPOCHS)

    datamodule.splits.clear()  # the fit sets up its own, on the trainer's device
    start = time.perf_counter()
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        trainer.fit(model, datamodule=datamodule)
    project_seconds = time.perf_counter() - start

    fresh_x, fresh_y = plain.clusters(FRESH_DRAW_PER_CLASS, seed=12345, device=device)
    model = model.to(device).eval()
    with torch.no_grad():
        fresh_acc = ((model(fresh_x) > 0).float() == fresh_y).float().mean().item()
    return {
        "device": device,
        "project_ms_per_epoch": 1000 * project_seconds / SEED_EPOCHS,
        "plain_ms_per_epoch": 1000 * plain_seconds / SEED_EPOCHS,
        "fresh_draw_points": 2 * FRESH_DRAW_PER_CLASS,
        "fresh_draw_acc": fresh_acc,
        "bayes_acc": datamodule.population.bayes_accuracy(),
    }


def usual_lightning(epochs: int, work_dir: Path) -> float:
    """Section 4: ms/epoch of the usual Lightning way on the seed's data."""
    from lightning import Trainer, seed_everything
    from usual_lightning import UsualClassifier, loaders

    from cluster_logreg.data import GaussianClustersDataModule

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
    import plain
    import torch

    from cluster_logreg.pipeline import build
    from cluster_logreg.splits import split_sizes

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
        cfg.data.batch_size = batch
        datamodule, model, trainer = build(cfg)
        # Drawn and split before the clock starts, as the plain loop's data are: the fit is timed.
        datamodule.trainer = trainer
        datamodule.setup("fit")
        start = time.perf_counter()
        with contextlib.redirect_stdout(open(os.devnull, "w")):
            trainer.fit(model, datamodule=datamodule)
        seconds = time.perf_counter() - start
    else:
        torch.manual_seed(0)
        x, y = plain.clusters(size // 2, seed=0, device=device)
        train = torch.randperm(size, device=device)[:n_train]
        seconds = plain.fit(plain.model(device=device), x[train], y[train], epochs=epochs, batch_size=batch)
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
        for impl in ("project", "plain"):
            command = [sys.executable, __file__, "--scale-point", impl, str(size), device, "--out", str(work_dir)]
            out = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True).stdout
            row[impl] = json.loads(out.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"  scale {size:>9,} points on {device}: project {row['project']['samples_per_second']:,.0f}/s, "
            f"plain {row['plain']['samples_per_second']:,.0f}/s",
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
        for impl, style in (("project", "o-"), ("plain", "s--")):
            label = f"{'this project (Lightning)' if impl == 'project' else 'plain PyTorch loop'}, {device}"
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


def report(results: dict) -> str:
    fit = results["fit_loop"][0]
    e2e, startup, usual = results["end_to_end"], results["startup"], results["usual_ms_per_epoch"]
    largest = [r for r in results["scale"] if r["device"] == "cpu"][-1]
    fit_ratio = fit["project_ms_per_epoch"] / fit["plain_ms_per_epoch"]
    e2e_ratio = e2e["project_s"] / e2e["plain_s"]
    speed_ratio = largest["project"]["samples_per_second"] / largest["plain"]["samples_per_second"]
    memory_ratio = largest["project"]["peak_above_imports_mb"] / largest["plain"]["peak_above_imports_mb"]
    usual_ratio = usual / fit["project_ms_per_epoch"]
    gap_pp = 100 * (fit["bayes_acc"] - fit["fresh_draw_acc"])
    size = f"10^{len(str(largest['size'])) - 1}"
    rows = [
        (
            "Fit loop, seed scale (1000 full-batch epochs), ms/epoch",
            f"{fit['project_ms_per_epoch']:.2f}",
            f"{fit['plain_ms_per_epoch']:.2f}",
            f"{fit_ratio:.2f}x",
            "<= 2.0x (stretch 1.5x)",
            verdict(fit_ratio <= 2.0),
        ),
        (
            "End to end, `python src/train.py` vs plain script, s (median)",
            f"{e2e['project_s']:.2f}",
            f"{e2e['plain_s']:.2f}",
            f"{e2e_ratio:.2f}x",
            "<= 1.6x",
            verdict(e2e_ratio <= 1.6),
        ),
        (
            f"Throughput at {size} points, samples/s",
            f"{largest['project']['samples_per_second']:,.0f}",
            f"{largest['plain']['samples_per_second']:,.0f}",
            f"{speed_ratio:.2f}x",
            ">= 0.9x",
            verdict(speed_ratio >= 0.9),
        ),
        (
            f"Peak memory at {size} points, MB above the imports",
            f"{largest['project']['peak_above_imports_mb']:.0f}",
            f"{largest['plain']['peak_above_imports_mb']:.0f}",
            f"{memory_ratio:.2f}x",
            "<= 1.5x",
            verdict(memory_ratio <= 1.5),
        ),
        (
            "Usual Lightning way (DataLoader, log every step, val + ckpt every epoch), ms/epoch",
            f"{fit['project_ms_per_epoch']:.2f}",
            f"{usual:.2f} (usual)",
            f"{usual_ratio:.1f}x faster",
            ">= 15x",
            verdict(usual_ratio >= 15),
        ),
        (
            "`python src/train.py --help`, s (median)",
            f"{startup['help_s']:.2f}",
            "",
            "",
            "< 1.5 s",
            verdict(startup["help_s"] < 1.5),
        ),
        (
            "`python src/train.py --cfg job`, s (median)",
            f"{startup['cfg_job_s']:.2f}",
            "",
            "",
            "< 1.5 s",
            verdict(startup["cfg_job_s"] < 1.5),
        ),
        (
            f"Accuracy of the default run on a fresh draw of {fit['fresh_draw_points']:,} points",
            f"{100 * fit['fresh_draw_acc']:.3f} %",
            f"{100 * fit['bayes_acc']:.3f} % (Bayes)",
            f"{gap_pp:.3f} pp below",
            "<= 0.05 pp",
            verdict(gap_pp <= 0.05),
        ),
    ]
    for extra in results["fit_loop"][1:]:
        ratio = extra["project_ms_per_epoch"] / extra["plain_ms_per_epoch"]
        rows.insert(
            1,
            (
                f"Fit loop on {extra['device']}, ms/epoch",
                f"{extra['project_ms_per_epoch']:.2f}",
                f"{extra['plain_ms_per_epoch']:.2f}",
                f"{ratio:.2f}x",
                "(reported)",
                "",
            ),
        )
    lines = [
        f"Measured {results['date']} on {results['machine']}, torch {results['torch']}, "
        f"lightning {results['lightning']}{' (quick mode: tiny sizes, not figures)' if results['quick'] else ''}.",
        "",
        "| measure | project | plain PyTorch | ratio | target | met |",
        "|---|---|---|---|---|---|",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        "| points | device | batch | epochs | project samples/s | plain samples/s | ratio | project MB | plain MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["scale"]:
        p, q = r["project"], r["plain"]
        lines.append(
            f"| {r['size']:,} | {r['device']} | {p['batch_size']:,} | {p['epochs']} | {p['samples_per_second']:,.0f} "
            f"| {q['samples_per_second']:,.0f} | {p['samples_per_second'] / q['samples_per_second']:.2f}x "
            f"| {p['peak_above_imports_mb']:.0f} | {q['peak_above_imports_mb']:.0f} |"
        )
    lines += ["", "MB: peak resident memory of the process above its resident memory after the imports."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: checks the code paths")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="where the results go")
    parser.add_argument("--scale-point", nargs=3, metavar=("IMPL", "SIZE", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.scale_point:
        impl, size, device = args.scale_point
        with tempfile.TemporaryDirectory() as work_dir:
            print(json.dumps(scale_point(impl, int(size), device, Path(work_dir))))
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
    }
    with tempfile.TemporaryDirectory() as tmp:
        work_dir = Path(tmp)
        print("1/6 fit loop at the seed's scale", flush=True)
        results["fit_loop"] = [fit_loop(device, work_dir) for device in devices]
        print("2/6 end to end", flush=True)
        results["end_to_end"] = {
            "project_s": median_wall([*train, f"hydra.run.dir={work_dir}/e2e"], settings["repeats"]),
            "plain_s": median_wall([sys.executable, "bench/plain.py"], settings["repeats"]),
        }
        print("3/6 scale", flush=True)
        results["scale"] = [row for device in devices for row in scale_series(settings["sizes"], device, work_dir)]
        print("4/6 the usual Lightning way", flush=True)
        results["usual_ms_per_epoch"] = usual_lightning(settings["usual_epochs"], work_dir)
        print("5/6 start-up", flush=True)
        results["startup"] = {
            "help_s": median_wall([*train, "--help"], settings["repeats"]),
            "cfg_job_s": median_wall([*train, "--cfg", "job"], settings["repeats"]),
        }
    print("6/6 report", flush=True)
    table = report(results)
    (args.out / "benchmark.md").write_text(table)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results["scale"], args.out / "scale.png")
    print(table)
    print(f"written: {args.out}/benchmark.md, results.json, scale.png")


if __name__ == "__main__":
    main()
