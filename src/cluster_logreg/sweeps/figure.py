"""The picture of a sweep: its optimised metric against each setting it varied (summary.png).

One panel per swept setting (seeds excepted), numeric ones on a log axis where their values span
decades. In each, one colour per combination of the other swept settings; where seeds were swept
too, a thin line per seed and a thick one through their median. The Bayes-optimal accuracy is drawn
where the metric is the exact accuracy. Torch-free: it runs in the sweep's parent process, which
need not have imported torch.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cluster_logreg.core.metrics import ACC_TRUE, EXCESS_ERROR, lower_is_better

Row = dict[str, Any]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _spans_decades(values: list[float]) -> bool:
    return min(values) > 0 and max(values) / min(values) >= 100


def _is_seed(key: str) -> bool:
    return key == "seed" or key.endswith(".seed")


def sweep_figure(rows: list[Row], metric: str, bayes: float | None = None) -> Figure | None:
    """`rows`: the summary's, each with `settings` (its job's overrides as a dict); `bayes`: the data's
    Bayes-optimal accuracy, drawn where the metric is the exact accuracy. None if nothing varied."""
    done = [r for r in rows if r["status"] == "ok" and isinstance(r.get(metric), (int, float))]
    keys = sorted({k for r in rows for k in r["settings"]})
    swept = [k for k in keys if len({str(r["settings"].get(k)) for r in rows}) > 1]
    axes_keys = [k for k in swept if not _is_seed(k)] or swept
    if not done or not axes_keys:
        return None

    fig = Figure(figsize=(6.4 * len(axes_keys), 4.8))
    FigureCanvasAgg(fig)
    for index, key in enumerate(axes_keys):
        ax = fig.add_subplot(1, len(axes_keys), index + 1)
        _panel(ax, done, metric, key, [k for k in swept if k != key])
        if metric == ACC_TRUE and bayes is not None:
            ax.axhline(bayes, color="black", linestyle="--", linewidth=1, label=f"Bayes-optimal ({bayes:.6f})")
        ax.legend(fontsize=7)
    better = "lower" if lower_is_better(metric) else "higher"
    note = "; 0 = the Bayes-optimal accuracy" if metric == EXCESS_ERROR else ""
    fig.suptitle(f"{metric} of each job against what the sweep varied ({better} is better{note})", fontsize=11)
    fig.tight_layout()
    return fig


def _panel(ax: Any, done: list[Row], metric: str, key: str, others: list[str]) -> None:
    labels = {str(r["settings"].get(key)) for r in done}
    numbers = {v: n for v in labels if (n := _number(v)) is not None}
    numeric = len(numbers) == len(labels)
    order = sorted(labels, key=numbers.__getitem__) if numeric else sorted(labels)

    def position(label: str) -> float:  # on the x axis
        return numbers[label] if numeric else order.index(label)

    seeds = [k for k in others if _is_seed(k)]
    groups: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in done:
        group = ", ".join(f"{k}={row['settings'].get(k)}" for k in others if not _is_seed(k))
        seed = ", ".join(f"{k}={row['settings'].get(k)}" for k in seeds)
        groups[group][seed][str(row["settings"].get(key))] = row[metric]
    for colour, (group, by_seed) in enumerate(sorted(groups.items())):
        style = {"color": f"C{colour}"}
        if seeds:  # a thin line per seed, a thick one through their median
            for points in by_seed.values():
                xs = [x for x in order if x in points]
                ax.plot([position(x) for x in xs], [points[x] for x in xs], linewidth=0.8, alpha=0.35, **style)
            xs = [x for x in order if any(x in points for points in by_seed.values())]
            median = [statistics.median(p[x] for p in by_seed.values() if x in p) for x in xs]
            label = f"{group or metric}: median of {len(by_seed)} seeds"
            ax.plot([position(x) for x in xs], median, marker="o", linewidth=2, label=label, **style)
        else:
            points = by_seed[""]
            xs = [x for x in order if x in points]
            ax.plot([position(x) for x in xs], [points[x] for x in xs], marker="o", label=group or metric, **style)

    if numeric and _spans_decades([numbers[x] for x in order]):
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(order)), order)
    values = [r[metric] for r in done]
    if lower_is_better(metric) and _spans_decades(values):
        ax.set_yscale("log")
    ax.set(xlabel=key, ylabel=metric)
    ax.grid(True, which="both", alpha=0.3)
