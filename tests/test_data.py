import torch

from cluster_logreg.core.population import GaussianPair
from cluster_logreg.core.splits import split_sizes
from cluster_logreg.data.clusters import GaussianClustersDataModule, make_clusters
from cluster_logreg.data.tensors import TensorBatches


def clusters(n_per_class=1000, seed=0, **overrides):
    params = dict(n_features=2, mean_value=2.5, std=1.0, bias=1.3) | overrides
    return make_clusters(n_per_class, generator=torch.Generator().manual_seed(seed), **params)


def test_counts_labels_and_order_follow_the_tutorial():
    x, y = clusters(1000)
    assert x.shape == (2000, 2) and y.shape == (2000,)
    assert x.dtype == torch.float32 and y.dtype == torch.float32
    # Class 0 first, labels 0.0 then 1.0.
    assert torch.equal(y[:1000], torch.zeros(1000)) and torch.equal(y[1000:], torch.ones(1000))


def test_centres_and_spread_match_the_tutorial():
    x, y = clusters(50_000)
    centre0, centre1 = x[y == 0].mean(0), x[y == 1].mean(0)
    assert torch.allclose(centre0, torch.tensor([3.8, 3.8]), atol=0.02)
    assert torch.allclose(centre1, torch.tensor([-1.2, -1.2]), atol=0.02)
    assert torch.allclose(x[y == 0].std(0), torch.ones(2), atol=0.02)


def test_n_features_and_parameters_are_honoured():
    x, y = clusters(20_000, n_features=5, mean_value=1.0, std=0.5, bias=0.0)
    assert x.shape == (40_000, 5)
    assert torch.allclose(x[y == 1].mean(0), torch.full((5,), -1.0), atol=0.02)
    assert torch.allclose(x[y == 1].std(0), torch.full((5,), 0.5), atol=0.02)


def test_same_seed_same_data_other_seed_other_data():
    assert torch.equal(clusters(seed=7)[0], clusters(seed=7)[0])
    assert not torch.equal(clusters(seed=7)[0], clusters(seed=8)[0])


def test_bayes_ceiling_is_the_tutorials_99_98_percent():
    assert abs(GaussianPair.clusters(2, 2.5, 1.0, 1.3).bayes_accuracy() - 0.99980) < 1e-5
    assert GaussianClustersDataModule().population == GaussianPair((3.8, 3.8), (-1.2, -1.2), 1.0)


def _datamodule(**kwargs):
    dm = GaussianClustersDataModule(**kwargs)
    dm.setup("fit")
    return dm


def test_splits_are_disjoint_cover_the_data_and_have_the_configured_sizes():
    dm = _datamodule(n_per_class=500, val_fraction=0.2, test_fraction=0.1, seed=3)
    sizes = [len(dm.splits[name][0]) for name in ("train", "val", "test")]
    assert sizes == list(split_sizes(1000, 0.2, 0.1)) == [700, 200, 100]
    every_point = torch.cat([dm.splits[name][0] for name in ("train", "val", "test")])
    assert len(torch.unique(every_point, dim=0)) == 1000  # no point in two splits, none lost
    x, _ = clusters(500, seed=3)
    assert torch.equal(torch.sort(every_point, dim=0).values, torch.sort(x, dim=0).values)


def test_datamodule_is_deterministic_per_seed():
    a, b, c = _datamodule(seed=1), _datamodule(seed=1), _datamodule(seed=2)
    assert torch.equal(a.splits["test"][0], b.splits["test"][0])
    assert not torch.equal(a.splits["test"][0], c.splits["test"][0])


def test_default_batches_are_whole_splits():
    dm = _datamodule()
    batches = list(dm.train_dataloader())
    assert len(dm.train_dataloader()) == len(batches) == 1
    assert batches[0][0] is dm.splits["train"][0] or torch.equal(batches[0][0], dm.splits["train"][0])
    assert len(list(dm.val_dataloader())) == len(list(dm.test_dataloader())) == 1


def test_mini_batches_cover_the_split_once_in_a_new_order_each_pass():
    x = torch.arange(10.0).unsqueeze(1)
    batches = TensorBatches(x, x.squeeze(1), batch_size=4, generator=torch.Generator().manual_seed(0))
    first, second = list(batches), list(batches)
    assert len(batches) == 3 and [len(b[0]) for b in first] == [4, 4, 2]
    assert sorted(torch.cat([b[0] for b in first]).squeeze(1).tolist()) == list(range(10))
    assert not torch.equal(torch.cat([b[0] for b in first]), torch.cat([b[0] for b in second]))
    assert all(torch.equal(bx.squeeze(1), by) for bx, by in first)  # x and y stay paired
