"""The valid values of the settings the YAML files give Lightning's classes (the trainer, loggers and
callbacks, conf/trainer, conf/logger, conf/callbacks), checked before torch is imported.

Their types are Lightning's (its signatures need torch to be read) and their values are the YAML
files' (as Lightning documents them); what this project accepts of each is here, in one table.
"""

from __future__ import annotations

from cluster_logreg.config.rules import (
    AT_LEAST_1,
    BOOL,
    CPU_CORES,
    DIRECTORY,
    FILE,
    NAME,
    Rule,
    int_at_least,
    is_int,
    one_of,
)  # fmt: skip
from cluster_logreg.core.metrics import MONITORED_LOSSES, VALIDATION

ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "auto")
STRATEGIES = ("auto", "ddp", "ddp_find_unused_parameters_true", "fsdp", "deepspeed")
# Lightning's DDP that starts its processes from the running one (spawned or forked: `ddp_spawn` is the
# lightning-hydra-template's `ddp_sim`). Each process fits, and only the final weights and metrics come
# back to the one that started them, which then writes the run's results: the epochs, the callbacks'
# state (checkpoints, a stop and its cause) stay behind, and every later validate or test spawns the
# processes again. `ddp` trains the same way, each process running the whole command: refused with
# that way out before anything starts (preflight.check_strategy). Lightning's names for them (its
# StrategyRegistry, start_method spawn or fork; tests/test_ddp_cpu.py checks this list against it).
SPAWNED_STRATEGIES = tuple(
    f"ddp_{start}{variant}"
    for start in ("spawn", "fork", "notebook")
    for variant in ("", "_find_unused_parameters_false", "_find_unused_parameters_true")
)
UNTIL_THE_END = " (0: only at the end)"
AT_LEAST_0 = int_at_least(0)
VERSION = Rule(lambda v: v is None or isinstance(v, (str, int)), "a name, a number or null")
# Lightning's limit on the batches of a loop: a number of batches, or a fraction of the split.
BATCHES = Rule(
    lambda v: AT_LEAST_1.test(v) or (isinstance(v, float) and 0 < v <= 1),
    "an integer >= 1 (batches) or a fraction in (0, 1]",
)

LIGHTNING_RULES: dict[str, Rule] = {
    "trainer.default_root_dir": DIRECTORY,
    "trainer.accelerator": one_of(*ACCELERATORS),
    # Lightning starts one process per CPU "device": a number far above the cores is a typo.
    "trainer.devices": Rule(
        lambda v: v == "auto" or (is_int(v) and 1 <= v <= CPU_CORES * 64),
        "auto or an integer from 1 to 64 x the CPU cores",
    ),
    "trainer.num_nodes": AT_LEAST_1,
    "trainer.strategy": one_of(*STRATEGIES),
    "trainer.max_epochs": AT_LEAST_1,
    "trainer.check_val_every_n_epoch": AT_LEAST_1,
    "trainer.log_every_n_steps": AT_LEAST_0,
    "trainer.enable_progress_bar": BOOL,
    "trainer.enable_model_summary": BOOL,
    "trainer.num_sanity_val_steps": int_at_least(-1, " (-1: the whole validation split)"),
    # The debug presets' (conf/debug/).
    "trainer.fast_dev_run": Rule(
        lambda v: BOOL.test(v) or AT_LEAST_0.test(v),
        "true | false | an integer >= 0 (batches of each loop)",
    ),
    "trainer.overfit_batches": Rule(
        lambda v: AT_LEAST_0.test(v) or (isinstance(v, float) and 0 <= v <= 1),
        "an integer >= 0 (batches; 0: off) or a fraction from 0.0 to 1.0",
    ),
    "trainer.limit_train_batches": BATCHES,
    "trainer.limit_val_batches": BATCHES,
    "trainer.limit_test_batches": BATCHES,
    "trainer.profiler.dirpath": DIRECTORY,
    "trainer.profiler.filename": Rule(NAME.test, "a file name (Lightning writes <stage>-<filename>.txt)"),
    "logger.tensorboard.save_dir": DIRECTORY,
    "logger.tensorboard.name": Rule(lambda v: isinstance(v, str), "a name (a subdirectory of the run directory) or ''"),
    "logger.tensorboard.version": VERSION,
    "logger.tensorboard.default_hp_metric": BOOL,
    "logger.csv.save_dir": DIRECTORY,
    "logger.csv.name": Rule(lambda v: isinstance(v, str), "a name (a subdirectory of the run directory)"),
    "logger.csv.version": VERSION,
    "callbacks.model_checkpoint.dirpath": DIRECTORY,
    "callbacks.model_checkpoint.filename": Rule(NAME.test, "a file name without .ckpt"),
    "callbacks.model_checkpoint.monitor": one_of(*VALIDATION),
    "callbacks.model_checkpoint.mode": one_of("max", "min"),
    "callbacks.model_checkpoint.save_top_k": int_at_least(-1, " (-1: every checkpoint)"),
    "callbacks.model_checkpoint.save_last": BOOL,
    "callbacks.model_checkpoint.auto_insert_metric_name": BOOL,
    "callbacks.model_checkpoint.enable_version_counter": BOOL,
    "callbacks.divergence.monitor": one_of(*MONITORED_LOSSES),
    "callbacks.divergence.check_finite": BOOL,
    "callbacks.divergence.patience": AT_LEAST_1,
    "callbacks.divergence.strict": BOOL,
    "callbacks.divergence.check_on_train_epoch_end": BOOL,
    # The project's own callbacks (training/callbacks.py, training/pictures.py).
    "callbacks.epoch_report.every_n_epochs": AT_LEAST_1,
    "callbacks.last_checkpoint.path": FILE,
    "callbacks.last_checkpoint.every_n_epochs": int_at_least(0, UNTIL_THE_END),
    "callbacks.decision_boundary.png_path": FILE,
    "callbacks.decision_boundary.every_n_epochs": int_at_least(0, UNTIL_THE_END),
    "callbacks.decision_boundary.max_points": AT_LEAST_1,
    "callbacks.decision_boundary.title": Rule(lambda v: isinstance(v, str), "a text (the run's name; '': defaults)"),
    "callbacks.margin_histogram.every_n_epochs": AT_LEAST_1,
}
