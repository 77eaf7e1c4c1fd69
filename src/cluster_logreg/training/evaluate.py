"""Test a trained model on its test split, a fresh draw of its clusters or a CSV file (eval.py)."""

from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from cluster_logreg.config.file_checks import EVALUATE_ON
from cluster_logreg.config.resume import checkpoint_of
from cluster_logreg.core.errors import invalid
from cluster_logreg.core.files import write_json
from cluster_logreg.core.metrics import ACC_TEST
from cluster_logreg.core.run_dir import RunDir
from cluster_logreg.core.table import read_data_for_model
from cluster_logreg.data.clusters import GaussianClustersDataModule, make_clusters
from cluster_logreg.data.tensors import TensorBatches, TensorDataModule
from cluster_logreg.model.classifier import LogisticClassifier
from cluster_logreg.training.build import build_loggers, use_threads
from cluster_logreg.training.results import report, reported
from cluster_logreg.training.trained import load_trained, trained_data

TEST_SPLIT, FRESH = EVALUATE_ON


def evaluate(cfg: DictConfig, in_sweep: bool = False) -> float:
    """Test a trained model (checked by `preflight.EVAL_CHECKS`), in `cfg.run_dir`; return its test accuracy.

    `evaluate_on`: `test`, the test split of the data it was trained on; `fresh`, a new draw of the
    clusters it was trained on (all of it, from `seed`); or a CSV file with its columns. (`in_sweep`:
    a job of a multirun, which evaluates the same way.)
    """
    use_threads(cfg.cpu_threads)
    run = RunDir(Path(cfg.run_dir))
    ckpt_path = checkpoint_of(Path(cfg.ckpt_path))
    model, checkpoint = load_trained(ckpt_path)
    datamodule = trained_data(checkpoint, ckpt_path)
    loggers = build_loggers(cfg)  # none by default: metrics.json says it all
    trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=[], enable_checkpointing=False)
    if cfg.evaluate_on == TEST_SPLIT:
        trainer.test(model, datamodule=datamodule, verbose=False)
    else:
        trainer.test(model, dataloaders=_evaluation_data(cfg, model, datamodule), verbose=False)
    metrics = reported(trainer) | model.exact_metrics(datamodule)
    where = {"ckpt_path": str(ckpt_path.resolve()), "evaluated_on": cfg.evaluate_on, "tags": list(cfg.tags)}
    write_json(run.metrics, metrics | where)
    report(run.path, metrics)
    return metrics[ACC_TEST]


def _evaluation_data(cfg: DictConfig, model: LogisticClassifier, trained_on: TensorDataModule) -> TensorBatches:
    if cfg.evaluate_on == FRESH:
        if not isinstance(trained_on, GaussianClustersDataModule):
            raise invalid("evaluate_on", "fresh", "test or a CSV file", "needs a model trained on the clusters")
        hp = trained_on.hparams
        generator = torch.Generator().manual_seed(cfg.seed)
        x, y = make_clusters(hp.n_per_class, hp.n_features, hp.mean_value, hp.std, hp.bias, generator)
    else:
        hp = model.hparams
        table = read_data_for_model(cfg.evaluate_on, "evaluate_on", hp.target, model.feature_names, model.classes[1])
        if list(table.classes) != model.classes:
            raise invalid(
                "evaluate_on", cfg.evaluate_on, f"a file whose {hp.target!r} holds {' and '.join(model.classes)}",
                f"holds {' and '.join(table.classes)}",
            )  # fmt: skip
        x, y = torch.from_numpy(table.x), torch.from_numpy(table.y)
    return TensorBatches(x, y, batch_size=65536)
