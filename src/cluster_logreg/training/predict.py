"""What predict.py does: a trained model's P(class 1) and predicted class for every row of a CSV,
through Lightning's `trainer.predict`, streamed in batches from the input file to the output file."""

from __future__ import annotations

import contextlib
import csv
import logging
import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import torch
from hydra.utils import instantiate
from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from omegaconf import DictConfig
from torch import Tensor

from cluster_logreg.config.file_checks import check_output, predictions_path
from cluster_logreg.config.resume import checkpoint_of
from cluster_logreg.core.csv_file import header, number, require_columns, rows
from cluster_logreg.core.errors import Interrupted, invalid
from cluster_logreg.core.files import partial_path
from cluster_logreg.core.predictions_file import predictions_header
from cluster_logreg.core.run_dir import RunDir
from cluster_logreg.training.build import use_threads
from cluster_logreg.training.trained import load_trained

log = logging.getLogger(__name__)


class CsvBatches:
    """The `columns` of a CSV as float32 tensors of `batch_size` rows, read as they are needed: a file
    of any length takes the memory of one batch. A bad cell raises the project's error, naming it."""

    def __init__(self, path: Path, columns: Sequence[str], batch_size: int, key: str = "input"):
        self.path, self.columns, self.batch_size, self.key = path, list(columns), batch_size, key
        self.names = header(path, key)
        require_columns(self.names, self.columns, path, key)

    def __iter__(self) -> Iterator[Tensor]:
        batch: list[list[float]] = []
        for row, cells in rows(self.path, self.columns, self.key, self.names):
            pairs = zip(cells, self.columns, strict=True)
            batch.append([number(cell, row, column, self.key, self.path) for cell, column in pairs])
            if len(batch) == self.batch_size:
                yield torch.tensor(batch)
                batch = []
        if batch:
            yield torch.tensor(batch)

    def row_number(self, index: int) -> int:
        """The file's row number (as an editor shows it) of its `index`-th data row (0: the first)."""
        return next(row for i, (row, _) in enumerate(rows(self.path, self.columns, self.key, self.names)) if i == index)


class CsvPredictionWriter(BasePredictionWriter):
    """Appends each batch's predictions to `path` as it comes (Lightning's writer callback): nothing
    is held for the end. Written beside `path` first, from the prediction's start; `finish` makes it
    the output in one rename, so a failed prediction leaves no file that looks complete."""

    def __init__(self, path: Path, target: str, classes: list[str], batches: CsvBatches, check: Callable[[], None]):
        super().__init__(write_interval="batch")
        self.check = check  # that `path` may still be replaced, at the rename
        self.path, self.classes, self.header = path, classes, predictions_header(target, classes)
        self.batches = batches  # where a row that cannot be scored is
        self.partial = partial_path(path)
        self.file: TextIO | None = None
        self.rows = 0

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.file = open(self.partial, "w", newline="")  # noqa: SIM115 - closed by finish/abort
        self.writer = csv.writer(self.file)
        self.writer.writerow(self.header)

    def write_on_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        prediction: Any,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        logits = prediction.cpu()
        if not bool(torch.isfinite(logits).all()):  # a float32 overflow: its P(class 1) would be a guess
            index = self.rows + int((~torch.isfinite(logits)).nonzero()[0])
            raise invalid(
                "input", str(self.batches.path), "features of the size the model was trained on",
                f"has a row whose score overflows float32 (row {self.batches.row_number(index)}: "
                f"its logit is {logits[index - self.rows].item()})",
            )  # fmt: skip
        probabilities = torch.sigmoid(logits).double().tolist()
        self.writer.writerows((f"{p:.9g}", self.classes[int(p > 0.5)]) for p in probabilities)
        self.rows += len(probabilities)

    def finish(self) -> None:
        assert self.file is not None, "finish() after a prediction"
        self.file.close()
        self.check()
        self.partial.replace(self.path)

    def abort(self) -> None:
        if self.file is not None:
            self.file.close()
        self.partial.unlink(missing_ok=True)


def predict(cfg: DictConfig, in_sweep: bool = False) -> int:
    """P(class 1) and the predicted class of every row of `cfg.input` (checked by
    `preflight.PREDICT_CHECKS`), written to `cfg.output` (default: predictions.csv in the run directory);
    returns the number of rows. (`in_sweep`: a job of a multirun, which predicts the same way.)"""
    use_threads(cfg.cpu_threads)
    model, _ = load_trained(checkpoint_of(Path(cfg.ckpt_path)))
    output = predictions_path(cfg) or RunDir(Path(cfg.run_dir)).predictions
    output.parent.mkdir(parents=True, exist_ok=True)
    batches = CsvBatches(Path(cfg.input), model.feature_names, cfg.batch_size)
    writer = CsvPredictionWriter(output, model.hparams.target, model.classes, batches, lambda: check_output(cfg))
    with _stopped_at_once_by_signals(output):
        try:  # whatever stops the prediction removes its partial file
            trainer = instantiate(cfg.trainer, logger=False, callbacks=[writer], enable_checkpointing=False)
            trainer.predict(model, dataloaders=batches, return_predictions=False)
            if writer.rows == 0:
                raise invalid("input", cfg.input, "a CSV file with rows under its header", "has a header only")
            writer.finish()
        except BaseException:
            writer.abort()
            raise
    log.info(f"{writer.rows} rows: P({model.hparams.target} = {model.classes[1]}) and the predicted class")
    log.info(f"Predictions: {output}")
    return writer.rows


@contextlib.contextmanager
def _stopped_at_once_by_signals(output: Path) -> Iterator[None]:
    """Ctrl-C (SIGINT) or SIGTERM end a prediction at once, as the run's `Interrupted` (exit status 130 or
    143 and one `interrupted:` line): it has nothing worth saving. Without this, Lightning turns Ctrl-C
    into exit status 1 and only logs a SIGTERM (it stops a fit for it, not a prediction)."""

    def stop(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        raise Interrupted(f"stopped by {name}: {output} was not written (run the same command again)", signum)

    # Lightning adds its own SIGTERM handler for the prediction and calls the one it finds after its own.
    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
