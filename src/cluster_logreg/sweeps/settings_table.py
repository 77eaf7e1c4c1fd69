"""The sweep summary's settings table, where a repeat key (a seed) is swept: one row per setting (a
combination of the other swept keys) with the median and spread of the ranked metric over its
seeds, best first, under a verdict on whether the best setting beats the runner-up beyond seed
noise (a paired test over the seeds at a stated significance) and by how much. Torch-free: it runs in
the sweep's parent process.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from cluster_logreg.core.metrics import EXCESS_ERROR, LOSS_VAL, TIE_BREAK, shown

Row = dict[str, Any]
# "Beyond seed noise" takes a one-sided p below this, by convention the least a reader accepts.
ALPHA = 0.05
# The fewest seeds (in which the two settings differ) that can ever reach it: n seeds give at best
# p = 2**-n, and 2**-4 = 0.0625 is not below 0.05.
SEEDS_NEEDED = next(n for n in range(1, 64) if 0.5**n < ALPHA)
ONLY_SETTING = "(all jobs)"  # the label where seeds are all the sweep varied


def is_repeat_key(key: str) -> bool:
    """A key whose values repeat a setting rather than change it: a seed."""
    return key == "seed" or key.endswith(".seed")


def swept_keys(rows: list[Row]) -> list[str]:
    """The keys of the jobs' overrides whose value differs between jobs, in the overrides' order."""
    keys = dict.fromkeys(k for row in rows for k in row["settings"])
    return [k for k in keys if len({str(row["settings"].get(k)) for row in rows}) > 1]


def signed_rank_p(differences: list[float]) -> float:
    """The one-sided p of the exact Wilcoxon signed-rank test that paired `differences` lean above 0.

    Why this test: the seed pairs the runs (the same data and initial weights), so the differences are
    paired; their ranks carry the sizes of the gaps, not only their signs as a sign test does, yet it
    assumes no normal distribution, which 3 to 10 seeds could not check (one seed near divergence is
    a gap far out in the tail), and ranks keep that one seed from outweighing the others as it would
    in a mean. Exact: with no difference in distribution each difference is as likely + as -, and the
    p is the share of the 2**n sign assignments whose sum of positive ranks is at least the observed,
    counted by dynamic programming (no scipy). Ties: a zero difference says neither is better and is
    left out (Wilcoxon's rule), so it cannot help reach the threshold; equal nonzero sizes share their
    mean rank, and the count is exact for those ranks (ranks are doubled to stay whole numbers).
    Of Agarwal et al. 2021 (rliable) the verdict takes the paired probability of improvement (ahead in
    k of n seeds) and shows the gap's range over the seeds, not a bootstrap interval, which a handful of
    seeds cannot support.
    """
    sizes = sorted(abs(d) for d in differences if d != 0)
    # |difference| -> twice its mean rank (positions first + 1 .. first + count: mean first + (count + 1) / 2)
    doubled = {size: 2 * sizes.index(size) + sizes.count(size) + 1 for size in sizes}
    observed = sum(doubled[d] for d in differences if d > 0)
    ways = [1]  # ways[s]: the sign assignments whose doubled sum of positive ranks is s
    for size in sizes:
        rank = doubled[size]
        ways = [a + b for a, b in zip(ways + [0] * rank, [0] * rank + ways, strict=True)]
    return sum(ways[observed:]) / float(2 ** len(sizes))


def _gap(values: list[float]) -> str:
    """The median of paired differences and their range over the seeds."""
    return f"{statistics.median(values):+.2g} ({min(values):+.2g}..{max(values):+.2g})"


@dataclass
class Setting:
    label: str
    ok: dict[str, Row] = field(default_factory=dict)  # its ok jobs with the ranked metric, by seed
    not_ok: int = 0  # failed or diverged; a job still running is neither

    def values(self, metric: str) -> dict[str, float]:
        return {seed: row[metric] for seed, row in self.ok.items() if isinstance(row.get(metric), (int, float))}

    def median(self, metric: str) -> float | None:
        values = list(self.values(metric).values())
        return statistics.median(values) if values else None

    def spread(self, metric: str) -> float | None:
        values = list(self.values(metric).values())
        return max(values) - min(values) if values else None


@dataclass
class SettingsTable:
    metric: str
    higher_is_better: bool
    settings: list[Setting]  # best first; those without an ok job last

    def rows(self) -> list[dict[str, float | int | str | None]]:
        m = self.metric
        with_loss = m != LOSS_VAL and any(s.values(LOSS_VAL) for s in self.settings)
        rows: list[dict[str, float | int | str | None]] = []
        for s in self.settings:
            rows.append({"setting": s.label, f"{m} median": s.median(m), f"{m} spread": s.spread(m)})
            rows[-1] |= {"seeds ok": len(s.ok), "not ok": s.not_ok}
            if with_loss:
                rows[-1][f"{LOSS_VAL} median"] = s.median(LOSS_VAL)
        return rows

    def verdict(self) -> str:
        ranked = [s for s in self.settings if s.ok]
        seeds = lambda s: f"{len(s.ok)} seed" + ("s" if len(s.ok) != 1 else "")  # noqa: E731
        if len(self.settings) == 1:
            return f"One setting, by {self.metric} over {seeds(ranked[0])}: no other setting to compare it with"
        best = ranked[0]
        head = f"Best setting by {self.metric} (median of {seeds(best)}): {best.label}"
        if len(ranked) == 1:
            return f"{head}; no other setting has an ok job to compare it with"
        runner_up = ranked[1]
        ours, theirs = best.values(self.metric), runner_up.values(self.metric)
        shared = [seed for seed in ours if seed in theirs]
        if not shared:
            return f"{head}; the runner-up, {runner_up.label}, has no ok seed in common with it to compare them in"
        sign = 1 if self.higher_is_better else -1
        differences = [ours[seed] - theirs[seed] for seed in shared]  # best minus runner-up, seed by seed
        ahead = [sign * d for d in differences]
        wins, n = sum(d > 0 for d in ahead), len(shared)  # a tie is not a win
        gaps = f"{self.metric} {_gap(differences)}"
        excess_ours, excess_theirs = best.values(EXCESS_ERROR), runner_up.values(EXCESS_ERROR)
        if all(seed in excess_ours and seed in excess_theirs for seed in shared):  # a known distribution
            if self.metric != EXCESS_ERROR:
                gaps += f", {EXCESS_ERROR} {_gap([excess_ours[seed] - excess_theirs[seed] for seed in shared])}"
            gaps += f", where the runner-up's median is {statistics.median(excess_theirs[seed] for seed in shared):.2g}"
        p = signed_rank_p(ahead)
        differ = sum(d != 0 for d in ahead)
        test = f"one-sided exact Wilcoxon signed-rank p = {p:.3g}"
        if p < ALPHA:
            judged = f"{test} < {ALPHA}: beyond seed noise"
        elif differ >= SEEDS_NEEDED:
            judged = f"{test}, not < {ALPHA}: within seed noise"
        elif differ == n:
            few = f"{n} seed{'s' if n != 1 else ''} can never reach it; run at least {SEEDS_NEEDED}"
            judged = f"{test}, not < {ALPHA}: too few seeds to tell ({few})"
        else:
            few = f"they differ in only {differ} of {n} shared seeds, which can never reach it"
            judged = f"{test}, not < {ALPHA}: too few seeds to tell ({few}; run seeds until {SEEDS_NEEDED} differ)"
        return (
            f"{head}, ahead of {runner_up.label} in {wins} of {n} shared seeds; the gap (best minus runner-up,"
            f" median and range over those seeds): {gaps}; {judged}"
        )

    def markdown(self) -> str:
        rows = self.rows()

        def cell(column: str, value: float | int | str | None) -> str:
            metric = column.removesuffix(" median").removesuffix(" spread")
            text = shown(metric, value) if isinstance(value, float) else "" if value is None else str(value)
            return text.replace("|", "\\|")

        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(cell(c, v) for c, v in row.items()) + " |" for row in rows]
        return f"{self.verdict()}\n\n" + "\n".join(lines) + "\n"

    def csv(self) -> str:
        rows = self.rows()
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows([{k: "" if v is None else v for k, v in row.items()} for row in rows])
        return out.getvalue()


def settings_table(rows: list[Row], metric: str, higher_is_better: bool) -> SettingsTable | None:
    """The jobs grouped by setting and ranked by the median of `metric` over their ok seeds; None
    where no repeat key is swept (then every job is a setting of its own)."""
    swept = swept_keys(rows)
    repeats = [k for k in swept if is_repeat_key(k)]
    if not repeats:
        return None
    varied = [k for k in swept if not is_repeat_key(k)]
    settings: dict[str, Setting] = {}
    for row in rows:
        label = " ".join(f"{k}={row['settings'][k]}" for k in varied if k in row["settings"]) or ONLY_SETTING
        setting = settings.setdefault(label, Setting(label))
        seed = " ".join(f"{k}={row['settings'].get(k)}" for k in repeats)
        if row["status"] == "ok" and isinstance(row.get(metric), (int, float)):
            setting.ok[seed] = row
        elif row["status"] in ("failed", "diverged"):
            setting.not_ok += 1
    sign = 1 if higher_is_better else -1

    def rank(s: Setting) -> tuple[bool, float, float]:  # sorted() keeps the jobs' order among equals
        median, tie_break = s.median(metric), s.median(TIE_BREAK)
        return (median is None, -sign * (median or 0.0), tie_break if tie_break is not None else math.inf)

    return SettingsTable(metric, higher_is_better, sorted(settings.values(), key=rank))
