import functools

import pytest
import torch
from lightning import Trainer
from lightning.pytorch.loggers import Logger
from torch import nn

from cluster_logreg.core.metrics import LEARNED, TEST, TRAIN, TRUE, VALIDATION
from cluster_logreg.data.clusters import GaussianClustersDataModule
from cluster_logreg.model.classifier import LogisticClassifier

SGD = functools.partial(torch.optim.SGD, lr=0.01, momentum=0.9)


def test_shapes_and_probabilities():
    model = LogisticClassifier(n_features=3, hidden_dim=4, optimizer=SGD)
    x = torch.randn(7, 3)
    assert model(x).shape == (7,)
    p = model.predict_proba(x)
    assert ((p > 0) & (p < 1)).all()
    assert [m.weight.shape for m in model.net] == [(4, 3), (1, 4)]


@pytest.mark.parametrize("scale", [1.0, 10.0])
def test_loss_from_logits_equals_the_tutorials_sigmoid_then_bce(scale):
    torch.manual_seed(0)
    model = LogisticClassifier(optimizer=SGD)
    x, y = torch.randn(256, 2) * scale, torch.randint(0, 2, (256,)).float()
    ours = model.loss_fn(model(x), y)
    # The tutorial: Linear -> Linear -> Sigmoid, then BCELoss on the probabilities.
    tutorial = nn.BCELoss()(nn.Sequential(model.net, nn.Sigmoid())(x).squeeze(-1), y)
    assert torch.allclose(ours, tutorial, rtol=1e-5, atol=1e-6)


def test_the_loss_stays_exact_where_the_tutorials_sigmoid_then_bce_saturates():
    # Confidently wrong by a logit of 40: the true loss is 40 for each point. The tutorial's sigmoid
    # rounds to 1.0 in float32 there, and its BCELoss clamps the log at -100 (70 on average here).
    model = LogisticClassifier(optimizer=SGD)
    assert torch.isclose(model.loss_fn(torch.tensor([40.0, -40.0]), torch.tensor([0.0, 1.0])), torch.tensor(40.0))


def test_a_stage_s_accuracy_counts_only_that_stage_s_points():
    torch.manual_seed(0)
    model = LogisticClassifier(optimizer=SGD)
    x, y = torch.randn(10, 2), torch.tensor([0.0, 1.0] * 5)
    with torch.no_grad():
        model.training_step((x, 1 - y), 0)  # training points the model gets wrong where it gets these right
        model.validation_step((x, y), 0)
        model.test_step((x[:4], y[:4]), 0)
        right = (model(x) > 0).float() == y
    assert model.val_acc.compute() == right.float().mean()
    assert model.test_acc.compute() == right[:4].float().mean()
    assert model.train_acc.compute() == 1 - right.float().mean()


class Recorded(Logger):
    """Every `log_metrics` call's step and metrics' names, as a logger gets them."""

    def __init__(self) -> None:
        super().__init__()
        self.points: list[tuple[int | None, set[str]]] = []

    name, version = "recorded", 0

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass

    def log_metrics(self, metrics, step=None) -> None:
        self.points.append((step, set(metrics)))


def fit_in_process(
    tmp_path, n_per_class: int, max_epochs: int, logger: Logger | None = None, **settings
) -> tuple[Trainer, LogisticClassifier, object]:
    torch.manual_seed(0)
    dm = GaussianClustersDataModule(n_per_class=n_per_class, seed=0)
    model = LogisticClassifier(optimizer=SGD)
    trainer = Trainer(
        max_epochs=max_epochs,
        logger=logger or False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        **settings,
    )
    trainer.fit(model, datamodule=dm)
    return trainer, model, dm


def test_logged_metric_names(tmp_path):
    trainer, model, dm = fit_in_process(tmp_path, n_per_class=100, max_epochs=3)
    # What the callbacks read (self.log); the exact metrics go to the loggers only (the model computes them).
    assert {*TRAIN, *VALIDATION} <= set(trainer.callback_metrics)
    trainer.test(model, datamodule=dm, verbose=False)
    assert set(TEST) <= set(trainer.callback_metrics)


def test_every_metric_reaches_the_loggers_at_the_step_reached_and_the_untrained_model_at_step_0(tmp_path):
    recorded = Recorded()
    trainer, model, dm = fit_in_process(
        tmp_path, 100, 4, recorded, check_val_every_n_epoch=2, num_sanity_val_steps=-1, log_every_n_steps=0
    )
    trainer.test(model, datamodule=dm, verbose=False)
    exact, logged = {*TRUE, *LEARNED}, {*TRAIN, *VALIDATION}
    # One full-batch step an epoch: validations after steps 2 and 4, each the exact metrics (straight
    # to the loggers) and what self.log logged; no `epoch` curve, `step` is the x axis.
    assert recorded.points == [
        (0, exact | {*TRAIN, "loss/val", "acc/val"}),
        (2, exact),
        (2, logged),
        (4, exact),
        (4, logged),
        (4, set(TEST)),
    ]


def test_training_reaches_high_accuracy(tmp_path):
    trainer, model, _ = fit_in_process(tmp_path, n_per_class=1000, max_epochs=100)
    assert trainer.callback_metrics["acc/val"] >= 0.98
    assert model.exact_metrics()["acc/true"] >= 0.98


def test_affine_map_is_what_the_two_layers_compute():
    torch.manual_seed(0)
    model = LogisticClassifier(n_features=3, hidden_dim=4, optimizer=SGD)
    w, c = model.affine_map()
    x = torch.randn(10, 3, dtype=torch.float64)
    assert torch.allclose(model(x.float()).double(), x @ torch.tensor(w, dtype=torch.float64) + c, atol=1e-6)


def test_loss_and_accuracy_are_means_over_points_whatever_the_batches(tmp_path):
    torch.manual_seed(0)
    model = LogisticClassifier(optimizer=SGD)
    x, y = torch.randn(10, 2), torch.tensor([0.0, 1.0] * 5)
    for batch in (slice(0, 7), slice(7, 10)):  # unequal batches
        model.validation_step((x[batch], y[batch]), 0)
    with torch.no_grad():
        assert torch.isclose(model.val_loss.compute(), model.loss_fn(model(x), y))
        assert model.val_acc.compute() == ((model(x) > 0).float() == y).float().mean()
