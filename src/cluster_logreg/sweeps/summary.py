"""A Hydra callback that keeps summary.csv, summary.md and summary.png in a sweep directory, one row per job
(and, where seeds were swept, summary_settings.csv and a table at the top of summary.md, one row per setting).

Every job records its outcome (ok, or failed with the one-line reason) in its own directory as it
ends, and the summary is rebuilt from those records under a file lock. This works the same with
every launcher (jobs in this process, in joblib workers, or on SLURM through submitit), and the
summary is complete even when a failed job makes Hydra end the sweep with an error.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from cluster_logreg.config.refusals import is_user_error
from cluster_logreg.core.errors import invalid, one_line, our_code
from cluster_logreg.core.files import write_json, write_text_atomically
from cluster_logreg.core.metrics import ACC_TRUE, TIE_BREAK, lower_is_better
from cluster_logreg.core.run_dir import RunDir
from cluster_logreg.sweeps.settings_table import SettingsTable, settings_table, swept_keys
from cluster_logreg.sweeps.summary_table import as_csv, bayes_accuracy, job_dirs, job_row, markdown
from cluster_logreg.sweeps.summary_table import columns as columns_of_summary
from cluster_logreg.sweeps.tensorboard_link import tensorboard_address

log = logging.getLogger(__name__)

SETTINGS_CSV = "summary_settings.csv"  # the settings table, where seeds were swept

# The sweep being run by this process, for `summary_even_if_a_job_fails`.
_running: tuple[SweepSummary, Path] | None = None


class SweepSummary(Callback):
    """Marks (`mark`: best, fastest, ...) the ok job with the best value of `rank_by`.

    rank_by=None: each job's own optimised metric, as its metrics name it (`optimized_metric`:
    auto stands for the exact accuracy on the clusters, a validation metric on other data). mode=None:
    lowest for a loss or an error, highest otherwise. Ties go to the lowest `metrics.TIE_BREAK`.
    """

    def __init__(self, rank_by: str | None = None, mode: str | None = None, mark: str = "best"):
        if mode not in ("max", "min", None):
            raise invalid("hydra.callbacks.sweep_summary.mode", mode, "max | min | null")
        self.rank_by, self.mode, self.mark = rank_by, mode, mark

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        global _running
        _running = (self, Path(config.hydra.sweep.dir))
        log.info(f"Sweep directory: {config.hydra.sweep.dir} (summary.md there is updated as jobs end)")

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        with our_code():
            self._record(config, job_return)

    def _record(self, config: DictConfig, job_return: JobReturn) -> None:
        record = {
            "job": config.hydra.job.num,
            "overrides": " ".join(job_return.overrides or []),
            "status": "ok",
            "reason": "",
        }
        if job_return.status != JobStatus.COMPLETED:
            try:  # a failed job's `return_value` raises its exception, and prints a line Hydra prints again
                with contextlib.redirect_stderr(io.StringIO()):  # at the sweep's end: said once, there
                    _ = job_return.return_value
            except Exception as error:
                record |= {"status": "failed", "reason": _reason(error)}
        write_json(RunDir(Path(config.hydra.runtime.output_dir)).job_status, record)
        self.write(Path(config.hydra.sweep.dir))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        global _running
        _running = None
        with our_code():
            self.report(Path(config.hydra.sweep.dir))

    def report(self, sweep_dir: Path) -> None:
        """Rebuild the summary and print it: the table, where it is, and the figure."""
        table = self.write(sweep_dir, ended=True)
        figure = sweep_dir / "summary.png"
        drawn = f", figure: {figure}" if figure.is_file() else ""
        log.info(f"Sweep summary ({sweep_dir}/summary.md{drawn}):\n{table}")

    def write(self, sweep_dir: Path, ended: bool = False) -> str:
        """Rebuild the summary files from the job directories; return the Markdown text. Once the sweep
        has `ended`: the figure too."""
        with open(sweep_dir / ".summary.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # parallel jobs ending together take turns
            rows = [job_row(d) for d in job_dirs(sweep_dir)]
            ranked_by = self._mark(rows)
            columns = columns_of_summary(rows, ranked_by, self.mark)
            text = (
                self._headline(rows, ranked_by)
                + _tensorboard(sweep_dir, rows, ranked_by)
                + "\n"
                + markdown(rows, columns)
            )
            write_text_atomically(sweep_dir / "summary.csv", as_csv(rows, columns))
            settings = self._settings(rows, ranked_by)
            if settings is None:
                (sweep_dir / SETTINGS_CSV).unlink(missing_ok=True)
            else:  # seeds were swept: the settings first, the single jobs below
                text = settings.markdown() + "\n" + text
                write_text_atomically(sweep_dir / SETTINGS_CSV, settings.csv())
            write_text_atomically(sweep_dir / "summary.md", text)
            if ended:
                _draw(sweep_dir / "summary.png", rows, ranked_by)
        return text

    def _headline(self, rows: list[dict[str, Any]], ranked_by: list[str]) -> str:
        """Which job is marked and by what; the ceiling of the exact accuracy where there is one."""
        lines = []
        for metric in ranked_by:
            row = next(r for r in rows if r[self.mark] == "yes" and r.get("_ranked_by") == metric)
            how = "highest" if self._mode(metric) == "max" else "lowest"
            job = f"job {row['job']}, {row['overrides'] or 'no overrides'}"
            lines.append(f"{self.mark.capitalize()} by {metric} ({how}): {job}")
        bayes = bayes_accuracy(rows)
        if bayes is not None:
            lines.append(f"Bayes-optimal accuracy on this data (the ceiling of {ACC_TRUE}): {bayes:.6f}")
        if not lines:
            running = not rows or any(r["status"] == "incomplete" for r in rows)
            lines.append("No job has finished yet." if running else "No job completed.")
        return "".join(f"{line}  \n" for line in lines)

    def _settings(self, rows: list[dict[str, Any]], ranked_by: list[str]) -> SettingsTable | None:
        # Jobs ranked by different metrics share no ranking of their settings.
        return settings_table(rows, ranked_by[0], self._mode(ranked_by[0]) == "max") if len(ranked_by) == 1 else None

    def _mode(self, metric: str) -> str:
        return self.mode or ("min" if lower_is_better(metric) else "max")

    def _mark(self, rows: list[dict[str, Any]]) -> list[str]:
        """Mark the best ok row of each ranking metric in use; return those metrics."""
        for row in rows:
            row[self.mark] = ""
        metrics = []
        for row in rows:
            metric = self.rank_by or row.get("optimized_metric")
            if isinstance(metric, str) and row["status"] == "ok" and isinstance(row.get(metric), (int, float)):
                row["_ranked_by"] = metric
                metrics += [metric] if metric not in metrics else []
        for metric in metrics:
            sign = 1 if self._mode(metric) == "max" else -1
            ranked = [r for r in rows if r.get("_ranked_by") == metric]
            tie_break = lambda r: -r[TIE_BREAK] if isinstance(r.get(TIE_BREAK), float) else 0.0  # noqa: E731
            max(ranked, key=lambda r: (sign * r[metric], tie_break(r)))[self.mark] = "yes"
        return metrics


def _tensorboard(sweep_dir: Path, rows: list[dict[str, Any]], ranked_by: list[str]) -> str:
    """How to look at the sweep in TensorBoard, each setting in a colour of its own."""
    if len(ranked_by) != 1:
        return ""
    address = tensorboard_address(swept_keys(rows), ranked_by[0])
    return f"TensorBoard: `tensorboard --logdir {sweep_dir} --host 127.0.0.1`, then <{address}>  \n"


def _reason(error: BaseException) -> str:
    # A user's mistake explains itself; for our bugs the exception's type is part of the story.
    return one_line(error) if is_user_error(error) else f"{type(error).__name__}: {one_line(error)}"


def _draw(path: Path, rows: list[dict[str, Any]], ranked_by: list[str]) -> None:
    from cluster_logreg.sweeps.figure import sweep_figure  # matplotlib: only once the sweep has ended

    path.unlink(missing_ok=True)
    if len(ranked_by) == 1:  # jobs ranked by different metrics share no axis
        figure = sweep_figure(rows, ranked_by[0], bayes_accuracy(rows))
        if figure is not None:
            figure.savefig(path, dpi=100)


@contextlib.contextmanager
def summary_even_if_a_job_fails() -> Iterator[None]:
    """Around a Hydra app: when a failed job makes Hydra end a sweep with its error, the summary is
    still printed (Hydra skips `on_multirun_end` then), before the error line."""
    try:
        yield
    except BaseException:
        if _running is not None:
            summary, sweep_dir = _running
            summary.report(sweep_dir)
        raise
