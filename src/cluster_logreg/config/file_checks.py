"""The pre-flight checks of the files a run reads and writes: checkpoints, predict's input and
output, eval's data, the directories every output goes to. Torch-free."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from cluster_logreg.config.resume import checkpoint_of
from cluster_logreg.config.rules import DIRECTORY, WRITTEN
from cluster_logreg.config.run_settings import CKPT_HINT
from cluster_logreg.config.schema import RULES
from cluster_logreg.core.csv_file import header
from cluster_logreg.core.errors import UserError, invalid
from cluster_logreg.core.files import NOT_A_FILE, unreadable
from cluster_logreg.core.predictions_file import is_predictions_file

EVALUATE_ON = ("test", "fresh")
OUTPUT = "a path that does not exist yet, or an earlier output of predict.py (replaced)"


def bad_checkpoint(key: str, path: Path, problem: str) -> UserError:
    return invalid(key, str(path), CKPT_HINT, problem)


def check_checkpoint_file(path: Path, key: str = "ckpt_path") -> None:
    """The checks that need no torch: the file exists and is a complete archive (what is in it is
    checked as it is read, `training.checkpoints.read_checkpoint`)."""
    if problem := unreadable(path):
        raise bad_checkpoint(key, path, problem)
    # torch.save writes a zip archive; anything else (a text file, a truncated copy) cannot be one.
    if not zipfile.is_zipfile(path):
        raise bad_checkpoint(key, path, "is not a checkpoint (not a complete zip archive)")


def check_ckpt_path(cfg: DictConfig) -> None:
    if OmegaConf.is_missing(cfg, "ckpt_path"):
        raise UserError(f"ckpt_path is missing; valid: ckpt_path=PATH, {CKPT_HINT}")
    check_checkpoint_file(checkpoint_of(Path(cfg.ckpt_path)))


def check_resume(cfg: DictConfig) -> None:
    """`resume=<run dir>` (the command line was rewritten to that run's, see resume.py): the run keeps a
    last checkpoint, and where it has one, it is a complete file."""
    if not cfg.resume:
        return
    path = OmegaConf.select(cfg, "callbacks.last_checkpoint.path")
    if path is None:
        raise invalid(
            "resume", cfg.resume, "a run with callbacks.last_checkpoint",
            "cannot continue: this run keeps no checkpoint to continue from",
        )  # fmt: skip
    if Path(path).exists():  # absent: stopped before its first save, and starts from epoch 0
        check_checkpoint_file(Path(path), key="resume")


def check_evaluate_on(cfg: DictConfig) -> None:
    """eval.py: a CSV to evaluate on exists (its columns are checked against the model's as it is read)."""
    if cfg.evaluate_on in EVALUATE_ON or not (problem := unreadable(Path(cfg.evaluate_on))):
        return
    if problem == NOT_A_FILE:
        problem = "is neither test nor fresh, and no such file exists"
    raise invalid("evaluate_on", cfg.evaluate_on, "test | fresh | a CSV file", problem)


def predictions_path(cfg: DictConfig) -> Path | None:
    """The file predict.py writes for `output`, as the system will find it: links and `..` followed
    (`new/../points.csv` is ./points.csv), so what is checked is what is written. None: the default,
    predictions.csv in the new run directory."""
    return Path(os.path.realpath(cfg.output)) if cfg.output is not None else None


def check_output(cfg: DictConfig) -> None:
    """predict.py writes over no file but its own: not the input (by any path or link to it), and no
    existing file that is not an earlier output of predict.py. Checked before the input is read, and
    again just before the predictions replace the file."""
    output = predictions_path(cfg)
    if output is None or not output.exists():
        return  # None: predictions.csv in the new run directory
    given = Path(cfg.input)
    if given.exists() and os.path.samefile(output, given):
        raise invalid("output", cfg.output, "another file than the input", f"is the input file (input={cfg.input!r})")
    if output.is_dir():
        raise invalid("output", cfg.output, "a file path", "is a directory")
    if problem := unreadable(output):
        raise invalid("output", cfg.output, OUTPUT, problem)
    if not is_predictions_file(output):
        raise invalid(
            "output", cfg.output, OUTPUT,
            f"is an existing file that predict.py did not write{_as_resolved(cfg.output, output)}",
        )  # fmt: skip


def _as_resolved(given: str, resolved: Path) -> str:
    return "" if Path(given).absolute() == resolved else f" ({resolved})"


def check_input(cfg: DictConfig) -> None:
    """predict.py: the input is a CSV with a header (its columns and cells are checked as it is read)."""
    header(Path(cfg.input), "input")


def check_outputs_writable(cfg: DictConfig) -> None:
    """Create every output directory now, so one that cannot be written stops the run before training."""
    for key, rule in RULES.items():
        value = OmegaConf.select(cfg, key, default=None)
        if rule not in WRITTEN or value is None:
            continue
        written = Path(os.path.realpath(value))  # as predictions_path: `new/../x` creates no `new`
        directory = written if rule is DIRECTORY else written.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            if not os.access(directory, os.W_OK):
                raise PermissionError(13, "Permission denied", str(directory))
        except OSError as error:
            raise invalid(key, value, "a path you can write to", f"cannot be written ({error.strerror})") from None
