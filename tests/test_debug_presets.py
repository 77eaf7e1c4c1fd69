"""The debug presets (conf/debug/, `debug=<name>`) set Lightning's debugging switches, and nothing else
that a run's results depend on; `debug=fdr` runs the whole pipeline in seconds."""

import math

import pytest
from omegaconf import OmegaConf

from cluster_logreg.core.splits import split_sizes
from helpers import CONF, compose_config, train_in_process

PRESETS = ("fdr", "limit", "overfit", "profiler")


def split_batches(cfg) -> dict[str, int]:
    """How many batches of data.batch_size each split holds (the split as in the data module)."""
    data = cfg.data
    n_points = split_sizes(2 * data.n_per_class, data.val_fraction, data.test_fraction)
    sizes = dict(zip(("train", "val", "test"), n_points, strict=True))
    return {split: math.ceil(n / data.batch_size) for split, n in sizes.items()}


def test_the_debug_group_is_off_by_default_and_holds_the_presets():
    assert compose_config().hydra.runtime.choices.debug is None
    assert sorted(path.stem for path in (CONF / "debug").glob("*.yaml")) == sorted(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_a_preset_is_global_and_says_how_to_use_it(name):
    text = (CONF / "debug" / f"{name}.yaml").read_text()
    assert text.startswith("# @package _global_\n")
    assert f"python src/train.py debug={name}" in text


def test_fdr_is_lightnings_fast_dev_run_and_changes_nothing_else():
    def settings(overrides: list[str]) -> dict:
        cfg = OmegaConf.to_container(compose_config(overrides=overrides), resolve=False)
        cfg.pop("hydra")
        return cfg

    fdr = settings(["debug=fdr"])
    assert fdr["trainer"].pop("fast_dev_run") is True
    assert fdr == settings([])


def test_overfit_trains_on_the_same_few_batches():
    cfg = compose_config(overrides=["debug=overfit"])
    assert 1 < cfg.trainer.overfit_batches < split_batches(cfg)["train"]  # a few of several batches
    assert cfg.trainer.max_epochs >= 100 and cfg.callbacks.epoch_report.every_n_epochs < cfg.trainer.max_epochs


def test_the_batches_overfitted_are_the_same_every_epoch():
    from types import SimpleNamespace

    import torch

    from cluster_logreg.data.clusters import GaussianClustersDataModule

    datamodule = GaussianClustersDataModule(n_per_class=100, batch_size=16)
    datamodule.setup("fit")
    for overfit_batches, same in ((0, False), (2, True)):
        datamodule.trainer = SimpleNamespace(overfit_batches=overfit_batches)
        first, second = (next(iter(datamodule.train_dataloader()))[0] for _ in range(2))
        assert torch.equal(first, second) == same


def test_limit_runs_a_few_epochs_on_a_few_mini_batches_of_each_split():
    cfg = compose_config(overrides=["debug=limit"])
    batches = split_batches(cfg)
    for split in ("train", "val", "test"):
        limit = cfg.trainer[f"limit_{split}_batches"]
        assert isinstance(limit, int) and 1 <= limit < batches[split], split  # a real limit
    assert cfg.trainer.max_epochs <= 5
    assert cfg.trainer.check_val_every_n_epoch == 1 and cfg.callbacks.epoch_report.every_n_epochs == 1


def test_profiler_writes_lightnings_simple_report_into_the_run_directory():
    cfg = compose_config(overrides=["debug=profiler"])
    profiler = OmegaConf.to_container(cfg.trainer.profiler, resolve=False)
    assert profiler == {
        "_target_": "lightning.pytorch.profilers.SimpleProfiler",
        "dirpath": "${run_dir}",
        "filename": "profile",  # Lightning writes <stage>-profile.txt there
    }
    assert 1 < cfg.trainer.max_epochs <= 100


def test_fast_dev_run_runs_the_whole_pipeline_and_says_its_numbers_are_no_result(tmp_path):
    metrics = train_in_process(tmp_path, "debug=fdr")
    assert metrics["status"] == "fast_dev_run" and metrics["epochs"] == 1
    assert not list(tmp_path.glob("events.out.tfevents.*"))  # Lightning suppresses the loggers
