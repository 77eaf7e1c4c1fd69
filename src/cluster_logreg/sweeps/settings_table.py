"""The sweep summary's settings table, where a repeat key (a seed) is swept: one row per setting (a
combination of the other swept keys) with the median and spread of the ranked metric over its
seeds, best first, under a verdict on whether the best setting beats the runner-up beyond seed
noise. Torch-free: it runs in the sweep's parent process.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from cluster_logreg.core.metrics import LOSS_VAL, TIE_BREAK, shown

Row = dict[str, Any]
# Winning every one of this many shared seeds is beyond seed noise: a fair coin does it with
# p = 0.5**3 = 0.125, and fewer seeds cannot say more than a coin toss could.
SURE_FROM = 3
ONLY_SETTING = "(all jobs)"  # the label where seeds are all the sweep varied


def is_repeat_key(key: str) -> bool:
    """A key whose values repeat a setting rather than change it: a seed."""
    return key == "seed" or key.endswith(".seed")


def swept_keys(rows: list[Row]) -> list[str]:
    """The keys of the jobs' overrides whose value differs between jobs, in the overrides' order."""
    keys = dict.fromkeys(k for row in rows for k in row["settings"])
    return [k for k in keys if len({str(row["settings"].get(k)) for row in rows}) > 1]


def sign_test(wins: int, n: int) -> float:
    """P(at least `wins` of `n` for a fair coin): the one-sided exact sign test."""
    return sum(math.comb(n, i) for i in range(wins, n + 1)) / float(2**n)


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
        sign = 1 if self.higher_is_better else -1
        wins = sum(sign * ours[seed] > sign * theirs[seed] for seed in shared)  # a tie is not a win
        if len(shared) < SURE_FROM:
            judged = f"too few shared seeds to tell ({SURE_FROM} or more needed)"
        else:
            judged = "beyond seed noise" if wins == len(shared) else "within seed noise"
        p, n = sign_test(wins, len(shared)), len(shared)
        return f"{head}, ahead of {runner_up.label} in {wins} of {n} shared seeds (sign test p = {p:.3g}): {judged}"

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
