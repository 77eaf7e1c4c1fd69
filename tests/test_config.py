"""The composed config is the tutorial's experiment, and the checks refuse bad values by name."""

import pytest
from omegaconf import OmegaConf

from cluster_logreg.config_checks import check_train_config
from cluster_logreg.errors import UserError
from helpers import compose_config


def test_default_config_is_the_tutorials_experiment():
    cfg = compose_config()
    assert cfg.trainer.max_epochs == 1000
    assert cfg.trainer.accelerator == "cpu"
    assert cfg.data.n_per_class == 1000 and cfg.data.n_features == 2
    assert (cfg.data.mean_value, cfg.data.std, cfg.data.bias) == (2.5, 1.0, 1.3)
    assert cfg.data.batch_size is None  # full batch
    assert cfg.model.optimizer._target_ == "torch.optim.SGD" and cfg.model.optimizer._partial_
    assert (cfg.model.optimizer.lr, cfg.model.optimizer.momentum) == (0.01, 0.9)
    assert cfg.model.hidden_dim == 5 and cfg.model.n_features == 2
    assert isinstance(cfg.seed, int) and cfg.data.seed == cfg.seed
    check_train_config(cfg)


def test_config_groups_exist():
    cfg = compose_config()
    for group in ("data", "model", "trainer", "logger", "callbacks"):
        assert group in cfg
    assert "experiment" in OmegaConf.to_container(cfg.hydra.runtime.choices)


@pytest.mark.parametrize("experiment", ["quick", "large_data"])
def test_experiment_presets_compose_and_pass_the_checks(experiment):
    check_train_config(compose_config(overrides=[f"experiment={experiment}"]))


def test_n_features_reaches_the_model():
    assert compose_config(overrides=["data.n_features=4"]).model.n_features == 4


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("data.n_per_class=0", "data.n_per_class"),
        ("data.n_per_class=abc", "data.n_per_class"),
        ("data.n_per_class=1.5", "data.n_per_class"),
        ("data.n_features=0", "data.n_features"),
        ("data.std=0", "data.std"),
        ("data.std=-1", "data.std"),
        ("data.mean_value=inf", "data.mean_value"),
        ("data.val_fraction=0", "data.val_fraction"),
        ("data.test_fraction=1", "data.test_fraction"),
        ("data.val_fraction=0.0001", "data.val_fraction"),
        ("data.batch_size=0", "data.batch_size"),
        ("model.hidden_dim=0", "model.hidden_dim"),
        ("model.optimizer.lr=-1", "model.optimizer.lr"),
        ("model.optimizer.lr=nan", "model.optimizer.lr"),
        ("model.optimizer.momentum=-0.1", "model.optimizer.momentum"),
        ("trainer.max_epochs=0", "trainer.max_epochs"),
        ("trainer.max_epochs=true", "trainer.max_epochs"),
        ("trainer.accelerator=tpu", "trainer.accelerator"),
        ("seed=-1", "seed"),
    ],
)
def test_bad_values_are_refused_by_name(override, key):
    with pytest.raises(UserError) as refused:
        check_train_config(compose_config(overrides=[override]))
    message = str(refused.value)
    assert message.startswith(f"{key}=") and "valid:" in message and "\n" not in message


def test_splits_that_leave_training_empty_are_refused():
    cfg = compose_config(overrides=["data.val_fraction=0.5", "data.test_fraction=0.5"])
    with pytest.raises(UserError, match="training split empty"):
        check_train_config(cfg)


def test_resume_continues_with_the_runs_own_overrides_and_directory(tmp_path):
    from cluster_logreg.resume import resume_arguments

    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text("- model.optimizer.lr=0.1\n- trainer.max_epochs=50\n")
    arguments = resume_arguments(["train.py", f"resume={tmp_path}", "trainer.max_epochs=80"])
    assert arguments == [
        "train.py",
        "model.optimizer.lr=0.1",
        "trainer.max_epochs=80",  # given now: wins over the run's own
        f"resume={tmp_path}",
        f"hydra.run.dir={tmp_path}",
    ]
    assert resume_arguments(["train.py", "resume=null"]) == ["train.py", "resume=null"]
    with pytest.raises(UserError, match="hydra.run.dir=elsewhere cannot be set as well"):
        resume_arguments(["train.py", f"resume={tmp_path}", "hydra.run.dir=elsewhere"])
