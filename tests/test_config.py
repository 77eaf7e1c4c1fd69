"""The composed config is the tutorial's experiment, and the checks refuse bad values by name."""

import pytest
from omegaconf import OmegaConf

from cluster_logreg.config.resolvers import job_name
from cluster_logreg.core.errors import UserError
from cluster_logreg.core.metrics import direction
from cluster_logreg.core.overrides import quote_path_arguments
from cluster_logreg.core.run_dir import RunDir
from helpers import CONF, checked_config, compose_config, group_options, read_metrics, refusal


def test_default_config_is_the_tutorials_experiment():
    cfg = compose_config()
    assert cfg.trainer.max_epochs == 1000
    assert cfg.trainer.accelerator == "cpu"
    assert cfg.data.n_per_class == 1000 and cfg.data.n_features == 2
    assert (cfg.data.mean_value, cfg.data.std, cfg.data.bias) == (2.5, 1.0, 1.3)
    assert cfg.data.batch_size is None  # full batch
    assert cfg.model.optimizer._target_ == "torch.optim.SGD" and cfg.model.optimizer._partial_
    assert (cfg.model.optimizer.lr, cfg.model.optimizer.momentum) == (0.01, 0.9)
    assert cfg.model.hidden_dim == 5
    assert isinstance(cfg.seed, int) and cfg.data.seed == cfg.seed
    checked_config()


@pytest.mark.parametrize("option", ["", *group_options()])
def test_every_config_composes_with_hydra_alone(option):
    # compose_config is initialize_config_dir + compose, nothing else: as in a notebook.
    overrides = [option] if option else []
    assert compose_config("train", overrides).trainer._target_ == "lightning.Trainer"
    if option.split("=")[0] in ("trainer", ""):
        assert compose_config("eval", overrides).evaluate_on == "test"
        assert compose_config("predict", overrides).output is None


def test_a_default_training_runs_in_process_from_a_composed_config(tmp_path):
    from cluster_logreg.training.fit import train

    cfg = compose_config("train", [f"run_dir={tmp_path}", "trainer.max_epochs=20"])
    assert train(cfg) == read_metrics(tmp_path)["acc/true"] > 0.99


@pytest.mark.parametrize("trainer", ["cpu", "gpu", "ddp", "ddp_sim"], ids=lambda t: f"trainer={t}")
def test_the_trainers_users_of_other_templates_type_are_there(trainer):
    cfg = compose_config(overrides=[f"trainer={trainer}"])
    assert cfg.trainer.accelerator == ("gpu" if trainer == "gpu" else "cpu")
    assert cfg.trainer.devices == (2 if trainer.startswith("ddp") else 1)


def test_config_groups_exist():
    cfg = compose_config()
    for group in ("data", "model", "trainer", "logger", "callbacks"):
        assert group in cfg
    assert "experiment" in OmegaConf.to_container(cfg.hydra.runtime.choices)


@pytest.mark.parametrize("experiment", sorted(path.stem for path in (CONF / "experiment").glob("*.yaml")))
def test_experiment_presets_compose_and_pass_the_checks(experiment):
    checked_config(f"experiment={experiment}")


def test_learning_curve_preset_sweeps_sizes_over_decades_and_seeds():
    cfg = compose_config(overrides=["experiment=learning_curve"])
    assert cfg.hydra.sweeper.params["data.n_per_class"] == "5,50,500,5000,50000"
    assert cfg.hydra.sweeper.params["model.optimizer.lr"] == "0.01,1.0"  # the tutorial's, and one that converges
    assert len(cfg.hydra.sweeper.params.seed.split(",")) >= 3
    assert cfg.optimized_metric == "acc/excess_error"


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        (["model.optimizer.lr=0.1", "seed=2"], "lr=0.1,seed=2"),
        (["model/optimizer=adam", "model.optimizer.lr=0.01"], "optimizer=adam,lr=0.01"),
        (["data.seed=1", "seed=2"], "data.seed=1,seed=2"),  # the short names would be the same
        (["experiment=learning_curve", "data.n_per_class=5", "+trainer.max_time=1"], "n_per_class=5,max_time=1"),
        (["data.path=/tmp/my data.csv"], "path=_tmp_my_data.csv"),  # one directory level, no spaces
    ],
)
def test_a_sweep_job_is_named_by_what_it_varies(overrides, name):
    assert job_name(overrides) == name


def test_paths_that_hydra_would_parse_are_quoted():
    job = "outputs/train/multiruns/x/001_lr=0.1,seed=2"
    assert quote_path_arguments(["eval.py", f"ckpt_path={job}/last.ckpt", "seed=1,2"], ("ckpt_path",)) == [
        "eval.py",
        f"ckpt_path='{job}/last.ckpt'",
        "seed=1,2",  # not a path: left to Hydra
    ]
    plain = "ckpt_path=outputs/train/runs/x/last.ckpt"
    assert quote_path_arguments(["eval.py", plain], ("ckpt_path",)) == ["eval.py", plain]


def test_an_optuna_search_maximises_accuracies_and_minimises_losses_and_errors():
    assert direction("auto") == direction("acc/true") == "maximize"
    assert direction("loss/val") == direction("acc/excess_error") == "minimize"


def test_the_model_is_sized_by_the_data():
    from hydra.utils import instantiate

    datamodule = instantiate(compose_config(overrides=["data.n_features=4"]).data)
    assert datamodule.model_inputs()["n_features"] == 4


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
        ("data.mean_value=0", "data.mean_value"),  # both classes at one centre
        ("data.bias=36028797018963973", "data.mean_value"),  # +-2.5 lost beside it in float32
        ("data.bias=3e38", "data.mean_value"),  # a centre beyond float32
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
        ("optimized_metric=val/loss", "optimized_metric"),  # the old name
        ("cpu_threads=0", "cpu_threads"),
    ],
)
def test_bad_values_are_refused_by_name(override, key):
    message = refusal(override)
    assert message.startswith(f"{key}=") and "valid:" in message and "\n" not in message


def test_splits_that_leave_training_empty_are_refused():
    assert "training split empty" in refusal("data.val_fraction=0.5", "data.test_fraction=0.5")


def test_resume_continues_with_the_runs_own_overrides_and_directory(tmp_path):
    from cluster_logreg.config.resume import resume_arguments

    saved = RunDir(tmp_path).overrides
    saved.parent.mkdir()
    saved.write_text("- model.optimizer.lr=0.1\n- trainer.max_epochs=50\n")
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
