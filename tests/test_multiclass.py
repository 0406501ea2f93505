"""Multi-class networks: a 3-way CNN whose errors depend on the image's domain, every strategy, and the errors."""

import numpy as np
import pytest
import torch
from skorch import NeuralNetClassifier
from sklearn.frozen import FrozenEstimator
from torch import nn

from skfairmask import FairMaskDebiaser
from skfairmask.metrics import mean_class_gap, multiclass_gap, statistical_parity_difference
from skfairmask.strategies import STRATEGIES
from conftest import state_hash

N_CLASSES = 3


class TinyCNN3(nn.Module):
    """A convolution with BatchNorm, global pooling and a 3-way linear head."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(6, N_CLASSES)

    def forward(self, X):
        return self.head(self.features(X))


def _skewed_images(n, seed, n_skewed=600):
    """8×8 images whose class shows faintly in the red channel and whose domain brightens the green one.

    In the first ``n_skewed`` rows (the base network's training rows) domain 1
    holds mostly class 2 and domain 0 mostly class 0, so the network learns
    the domain as a shortcut; in the rest the classes are balanced in both
    domains, as in CIFAR-10S's test set.
    """
    rng = np.random.default_rng(seed)
    domain = (rng.random(n) < 0.5).astype(int)
    skewed = np.where(domain[:, None] == 1, [0.1, 0.2, 0.7], [0.7, 0.2, 0.1])
    weights = np.where(np.arange(n)[:, None] < n_skewed, skewed, 1.0 / N_CLASSES)
    y = np.array([rng.choice(N_CLASSES, p=w) for w in weights])
    X = rng.normal(scale=0.8, size=(n, 3, 8, 8)).astype(np.float32)
    X[:, 0] += 0.25 * (y[:, None, None] - 1)
    X[:, 1] += 2.0 * domain[:, None, None]
    return X, y, domain


@pytest.fixture(scope="module")
def images():
    return _skewed_images(1500, 0)


@pytest.fixture(scope="module")
def cnn(images):
    X, y, _ = images
    torch.manual_seed(0)
    net = NeuralNetClassifier(TinyCNN3, criterion=nn.CrossEntropyLoss, max_epochs=15, lr=0.01,
                              optimizer=torch.optim.Adam, batch_size=64, train_split=None, verbose=0)
    return net.fit(X[:600], y[:600])


QUICK = dict(epochs=3, lr=0.3, beta=0.5, batch_size=64, finetune_epochs=2, random_state=0)


def test_soft_class_gap_on_one_hot_predictions_is_the_hard_gap():
    rng = np.random.default_rng(1)
    y, pred, domain = rng.integers(0, 4, 300), rng.integers(0, 4, 300), rng.integers(0, 2, 300)
    for metric in ("spd", "eod"):
        soft = mean_class_gap(torch.as_tensor(y), torch.eye(4)[pred], torch.as_tensor(domain, dtype=torch.float32),
                              metric)
        assert float(soft) == pytest.approx(multiclass_gap(y, pred, sensitive=domain, bias_metric=metric), abs=1e-6)


@pytest.mark.parametrize("strategy", sorted(set(STRATEGIES) - {"offset", "quantile"}))
def test_every_strategy_runs_on_a_multiclass_cnn(strategy, images, cnn):
    X, y, A = images
    before = state_hash(cnn.module_)
    deb = FairMaskDebiaser(FrozenEstimator(cnn), strategy=strategy, **QUICK)
    deb.fit(X[600:1100], y[600:1100], sensitive=A[600:1100])
    proba = deb.predict_proba(X[1100:])
    assert proba.shape == (400, N_CLASSES) and np.allclose(proba.sum(1), 1.0)
    assert set(np.unique(deb.predict(X[1100:]))) <= {0, 1, 2}
    assert deb.threshold_ is None and isinstance(deb.net_, NeuralNetClassifier)
    assert state_hash(cnn.module_) == before
    if STRATEGIES[deb.strategy_].prunes:
        params = dict(deb.net_.module_.module.named_parameters())
        for name, mask in deb.mask_.items():
            assert torch.all(params[name][~mask] == 0)


def test_debiasing_a_multiclass_cnn_lowers_its_mean_class_gap(images, cnn):
    X, y, A = images
    test = slice(1100, None)
    base = statistical_parity_difference(y[test], cnn.predict(X[test]), sensitive=A[test])
    deb = FairMaskDebiaser(FrozenEstimator(cnn), epochs=3, lr=0.3, beta=0.5, batch_size=64,
                           finetune_epochs=6, random_state=0).fit(X[600:1100], y[600:1100], sensitive=A[600:1100])
    after = statistical_parity_difference(y[test], deb.predict(X[test]), sensitive=A[test])
    assert base > 0.08
    assert after < 0.7 * base
    # score is Φ with the multi-class measure: balanced accuracy where the gap is within ε, else 0.
    phi = deb.score(X[test], y[test], sensitive=A[test])
    assert phi == (pytest.approx(deb.score(X[test], y[test])) if after < deb.epsilon else 0.0)


def test_string_class_labels_come_back_as_given(images, cnn):
    X, y, A = images
    names = np.array(["cat", "dog", "eel"])
    deb = FairMaskDebiaser(FrozenEstimator(cnn), strategy="none", random_state=0)
    deb.fit(X[600:1100], names[y[600:1100]], sensitive=A[600:1100])
    assert list(deb.classes_) == ["cat", "dog", "eel"]
    assert set(deb.predict(X[1100:])) <= set(names)


@pytest.mark.parametrize(
    "params, sensitive, message",
    [
        (dict(bias_metric="aod"), None, "aod.* not defined for more than two classes"),
        (dict(threshold=0.5), None, "threshold=0.5 applies to binary classification only"),
        (dict(), lambda A: np.arange(len(A)) % 3, "exactly two groups"),
    ],
    ids=["aod", "fixed-threshold", "three-groups"],
)
def test_multiclass_limits_are_named(params, sensitive, message, images, cnn):
    X, y, A = images
    A = A[600:1100] if sensitive is None else sensitive(A[600:1100])
    deb = FairMaskDebiaser(FrozenEstimator(cnn), strategy="none", random_state=0, **params)
    with pytest.raises(ValueError, match=message):
        deb.fit(X[600:1100], y[600:1100], sensitive=A)
    assert not hasattr(deb, "net_")


def test_multiclass_needs_a_network_of_the_users(images):
    X, y, A = images
    with pytest.raises(ValueError, match="Only binary classification is supported with estimator=None"):
        FairMaskDebiaser(random_state=0).fit(X[:500].reshape(500, -1), y[:500], sensitive=A[:500])


def test_the_report_names_its_binary_limit(images, cnn):
    from skfairmask.report import FairnessReport

    X, y, A = images
    with pytest.raises(ValueError, match="FairnessReport covers binary classification; y holds 3 classes"):
        FairnessReport(cnn, X[1100:], y[1100:], A[1100:])


@pytest.mark.parametrize("strategy, needs", [("offset", "binary network"), ("quantile", "column of X")])
def test_the_offset_strategies_say_what_they_need(images, cnn, strategy, needs):
    X, y, A = images
    with pytest.raises(ValueError, match=f"strategy='{strategy}'.*{needs}"):
        FairMaskDebiaser(FrozenEstimator(cnn), strategy=strategy, **QUICK).fit(X[600:1100], y[600:1100],
                                                                                sensitive=A[600:1100])
