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
from cluster_logreg.sweeps.settings_table import is_repeat_key, swept_keys

Row = dict[str, Any]
# Up to this many seeds, each seed's thin lines have a dash pattern of their own, named in the legend.
SEED_STYLES = ("solid", "dashed", "dotted", "dashdot", (0, (5, 1, 1, 1, 1, 1)))


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _spans_decades(values: list[float]) -> bool:
    return min(values) > 0 and max(values) / min(values) >= 100


def sweep_figure(rows: list[Row], metric: str, bayes: float | None = None) -> Figure | None:
    """`rows`: the summary's, each with `settings` (its job's overrides as a dict); `bayes`: the data's
    Bayes-optimal accuracy, drawn where the metric is the exact accuracy. None if nothing varied."""
    done = [r for r in rows if r["status"] == "ok" and isinstance(r.get(metric), (int, float))]
    swept = sorted(swept_keys(rows))
    axes_keys = [k for k in swept if not is_repeat_key(k)] or swept
    if not done or not axes_keys:
        return None

    fig = Figure(figsize=(6.4 * len(axes_keys), 4.8))
    FigureCanvasAgg(fig)
    for index, key in enumerate(axes_keys):
        ax = fig.add_subplot(1, len(axes_keys), index + 1)
        _panel(ax, done, metric, key, [k for k in swept if k != key])
        missing = _not_drawn(rows, done, key)
        if missing:  # a value with no ok job has no point: say so where its point would be looked for
            ax.text(0.01, 0.01, f"not drawn, no job ok: {key}={', '.join(missing)}", transform=ax.transAxes, fontsize=7)
        if metric == ACC_TRUE and bayes is not None:
            ax.axhline(bayes, color="black", linestyle="--", linewidth=1, label=f"Bayes-optimal ({bayes:.6f})")
        ax.legend(fontsize=7)
    better = "lower" if lower_is_better(metric) else "higher"
    note = "; 0 = the Bayes-optimal accuracy" if metric == EXCESS_ERROR else ""
    fig.suptitle(f"{metric} of each job against what the sweep varied ({better} is better{note})", fontsize=11)
    fig.tight_layout()
    return fig


def _not_drawn(rows: list[Row], done: list[Row], key: str) -> list[str]:
    """The values of `key` that no ok job has (every job with them failed or diverged)."""
    drawn = {str(r["settings"].get(key)) for r in done}
    return sorted({str(r["settings"].get(key)) for r in rows if key in r["settings"]} - drawn)


def _panel(ax: Any, done: list[Row], metric: str, key: str, others: list[str]) -> None:
    labels = {str(r["settings"].get(key)) for r in done}
    numbers = {v: n for v in labels if (n := _number(v)) is not None}
    numeric = len(numbers) == len(labels)
    order = sorted(labels, key=numbers.__getitem__) if numeric else sorted(labels)

    def position(label: str) -> float:  # on the x axis
        return numbers[label] if numeric else order.index(label)

    seeds = [k for k in others if is_repeat_key(k)]
    groups: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in done:
        group = ", ".join(f"{k}={row['settings'].get(k)}" for k in others if not is_repeat_key(k))
        seed = ", ".join(f"{k}={row['settings'].get(k)}" for k in seeds)
        groups[group][seed][str(row["settings"].get(key))] = row[metric]
    every_seed = sorted({seed for by_seed in groups.values() for seed in by_seed})
    seeds_seen = every_seed if len(every_seed) <= len(SEED_STYLES) else []
    for colour, (group, by_seed) in enumerate(sorted(groups.items())):
        style = {"color": f"C{colour}"}
        if seeds:  # a thin line per seed, a thick one through their median
            for seed, points in sorted(by_seed.items()):
                xs = [x for x in order if x in points]
                dashes = {"linestyle": SEED_STYLES[seeds_seen.index(seed)]} if seed in seeds_seen else {}
                ax.plot([position(x) for x in xs], [points[x] for x in xs], linewidth=1, alpha=0.45, **style, **dashes)
            xs = [x for x in order if any(x in points for points in by_seed.values())]
            median = [statistics.median(p[x] for p in by_seed.values() if x in p) for x in xs]
            label = f"{group + ': ' if group else ''}median of {len(by_seed)} seeds"
            ax.plot([position(x) for x in xs], median, marker="o", linewidth=2, label=label, **style)
        else:
            points = by_seed[""]
            xs = [x for x in order if x in points]
            ax.plot([position(x) for x in xs], [points[x] for x in xs], marker="o", label=group or metric, **style)
    if seeds and seeds_seen:  # which seed each thin line is: a legend entry per dash pattern, in no group's colour
        for seed, pattern in zip(seeds_seen, SEED_STYLES, strict=False):
            ax.plot([], [], color="grey", linewidth=1, linestyle=pattern, label=f"{seed} (thin line)")
    elif seeds:
        ax.plot([], [], color="grey", linewidth=1, label="one seed (each thin line)")

    if numeric and _spans_decades([numbers[x] for x in order]):
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(order)), order)
    values = [r[metric] for r in done]
    if lower_is_better(metric) and _spans_decades(values):
        ax.set_yscale("log")
    ax.set(xlabel=key, ylabel=f"{metric} ({'lower' if lower_is_better(metric) else 'higher'} is better)")
    ax.grid(True, which="both", alpha=0.3)
