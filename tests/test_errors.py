"""Every failure is loud, names what is wrong, and damages nothing the user owns."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted
from torch import nn

from skfairmask import FairMaskDebiaser
from skfairmask.loading import UntrustedModelError, load_model
from skfairmask.network import make_base_module
from conftest import state_hash


@pytest.fixture
def data(biased_data):
    return biased_data[1]


@pytest.fixture
def deb(base_net):
    return FairMaskDebiaser(FrozenEstimator(base_net), strategy="none", random_state=0)


def _with(array, index, value):
    copy = np.array(array, dtype=object if isinstance(value, str) else float)
    copy[index] = value
    return copy


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda X, y, A: (_with(X, (0, 0), np.inf), y, A), "infinity"),
        (lambda X, y, A: (_with(X, (3, 1), np.nan), y, A), "NaN"),
        (lambda X, y, A: (_with(X, (0, 0), "abc"), y, A), "X must hold numbers"),
        (lambda X, y, A: (X, y[:-1], A), "y must be 1-dimensional with one value per row of X"),
        (lambda X, y, A: (X, _with(y, 0, np.nan), A), "y contains NaN"),
        (lambda X, y, A: (X, y, A[:-1]), "sensitive must be 1-dimensional .* one value per row of X"),
        (lambda X, y, A: (X, y, None), "sensitive is required"),
        (lambda X, y, A: (X, y, np.ones_like(A)), "single group"),
        (lambda X, y, A: (X, y, A * 2), "must hold priv_group=1"),
        (lambda X, y, A: (X, y, _with(A, 0, np.nan)), "NaN"),
        (lambda X, y, A: (X, np.zeros_like(y), A), "1 class"),
        (lambda X, y, A: (X, np.arange(len(y)) % 3, A), r"does not fit y's 3 classes: expected shape \(n, 3\)"),
        (lambda X, y, A: (X, np.linspace(0, 1, len(y)), A), "y must hold class labels .* continuous"),
        (lambda X, y, A: (X[:, :3], y, A), "features"),
        (lambda X, y, A: (X[:0], y[:0], A[:0]), "0 sample"),
    ],
    ids=["inf", "nan", "strings", "short-y", "nan-y", "short-sensitive", "no-sensitive",
         "one-group", "no-priv-group", "nan-sensitive", "one-class", "three-classes-binary-network", "continuous-y",
         "feature-count", "empty"],
)
def test_bad_fit_input_is_named(change, message, data, deb):
    X, y, A = change(*data)
    with pytest.raises(ValueError, match=message):
        deb.fit(X, y, sensitive=A)
    with pytest.raises(NotFittedError):
        check_is_fitted(deb)


def test_a_group_too_small_for_the_metric_is_named(data, base_net):
    X, y, A = data
    y = y.copy()
    y[(A == 0) & (y == 1)] = 0  # no positive left in the unprivileged group
    with pytest.raises(ValueError, match="needs positive labels in each group"):
        FairMaskDebiaser(FrozenEstimator(base_net), bias_metric="eod").fit(X, y, sensitive=A)
    y[np.flatnonzero(A == 0)[:2]] = 1  # two positives: too few to split stratified, and to certify
    with pytest.warns(UserWarning, match="tolerance_met_ is False"):
        deb = FairMaskDebiaser(FrozenEstimator(base_net), bias_metric="eod", strategy="none").fit(X, y, sensitive=A)
    assert not deb.tolerance_met_


@pytest.mark.parametrize(
    "params",
    [{"strategy": "magic"}, {"bias_metric": "xyz"}, {"epsilon": 1.5}, {"tau": 0.0}, {"beta": -1.0},
     {"epochs": 0}, {"lr": 0.0}, {"finetune_loss": "l2"}, {"mask_granularity": "layer"}, {"n_bootstrap": -1},
     {"fallback": "constant"}],
)
def test_bad_parameters_name_themselves(params, data, base_net):
    (name,) = params
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        FairMaskDebiaser(FrozenEstimator(base_net), **params).fit(*data[:2], sensitive=data[2])


@pytest.mark.parametrize("confidence", [0.4, 1.0, 1.5])
def test_confidence_must_be_a_probability_of_at_least_one_half(data, base_net, confidence):
    with pytest.raises(ValueError, match="'confidence' parameter"):
        FairMaskDebiaser(FrozenEstimator(base_net), confidence=confidence).fit(*data[:2], sensitive=data[2])


def test_an_estimator_that_is_not_a_network_is_named(data):
    with pytest.raises(TypeError, match="estimator must be"):
        FairMaskDebiaser("not a network").fit(*data[:2], sensitive=data[2])
    with pytest.raises(ValueError, match="does not fit binary classification"):
        FairMaskDebiaser(nn.Linear(data[0].shape[1], 3)).fit(*data[:2], sensitive=data[2])


def test_predict_and_score_check_their_input(data, deb):
    X, y, A = data
    with pytest.raises(NotFittedError):
        deb.predict(X)
    deb.fit(X, y, sensitive=A)
    with pytest.raises(ValueError, match="infinity"):
        deb.predict(_with(X, (0, 0), np.inf))
    with pytest.raises(ValueError, match="features"):
        deb.predict_proba(X[:, :-1])
    with pytest.raises(ValueError, match="X must hold numbers"):
        deb.predict(_with(X, (0, 0), "abc"))
    with pytest.raises(ValueError, match="y must be 1-dimensional"):
        deb.score(X, y[:-1], sensitive=A)
    with pytest.raises(ValueError, match="unseen in fit"):
        deb.score(X, y + 1, sensitive=A)
    with pytest.raises(ValueError, match="sensitive must be 1-dimensional .*one value per row"):
        deb.score(X, y, sensitive=A[:-1])
    with pytest.raises(ValueError, match="single group"):
        deb.score(X, y, sensitive=np.zeros_like(A))


class _Overflowing(nn.Module):
    """A network whose output overflows to inf on real rows (but not on the zero probe)."""

    def __init__(self, n_features):
        super().__init__()
        self.linear = nn.Linear(n_features, 1)

    def forward(self, X):
        return self.linear(X) * 1e38 * 1e38


def test_a_network_that_outputs_inf_is_refused_at_once(data):
    X, y, A = data
    deb = FairMaskDebiaser(_Overflowing(X.shape[1]), random_state=0)
    with pytest.raises(ValueError, match="outputs NaN or inf"):
        deb.fit(X, y, sensitive=A)
    with pytest.raises(NotFittedError):
        check_is_fitted(deb)


def test_a_loss_that_blows_up_stops_training_naming_phase_and_epoch(data, base_net):
    from dataclasses import replace

    from skfairmask._rows import Rows
    from skfairmask.finetune import FinetuneSettings, finetune_network
    from skfairmask.masking import discover_mask
    from skfairmask.network import FavourableLogit

    settings = FairMaskDebiaser()._settings(objective=None)

    rows = Rows.from_arrays(*(np.asarray(a, dtype=np.float32) for a in data))
    network = FavourableLogit(make_base_module(rows.X.shape[1], depth=2))
    # An absurd learning rate makes the weights overflow within the first epoch.
    reckless = replace(settings.finetune, loss="surrogate", lr=1e30, epochs=2)
    assert isinstance(reckless, FinetuneSettings)
    with pytest.raises(FloatingPointError, match=r"fine-tuning became (nan|inf) at epoch 1"):
        finetune_network(network, rows, bias_metric="spd", settings=reckless)
    poisoned = FavourableLogit(nn.Sequential(nn.Linear(rows.X.shape[1], 1), _Times(float("nan"))))
    with pytest.raises(FloatingPointError, match="mask discovery became nan at epoch 1"):
        discover_mask(poisoned, rows, replace(settings.mask, epochs=2), bias_metric="spd")


class _FaultAfter(nn.Module):
    """Wraps a module; after a number of forward passes, ``fault(output)`` replaces the output.

    The fault may return a poisoned output or raise (a KeyboardInterrupt stands in for Ctrl-C).
    """

    def __init__(self, module, calls, fault):
        super().__init__()
        self.module = module
        self.calls = calls
        self.fault = fault

    def forward(self, X):
        self.calls -= 1
        out = self.module(X)
        return self.fault(out) if self.calls < 0 else out


def _nan(output):
    return output * float("nan")


def _interrupt(output):
    raise KeyboardInterrupt


def test_a_fit_that_hits_nan_leaves_even_a_fitted_estimator_unfitted(data, base_net, fast):
    X, y, A = data
    deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy="prune", **fast).fit(X, y, sensitive=A)
    check_is_fitted(deb)
    deb.set_params(estimator=_FaultAfter(base_net.module_, calls=10, fault=_nan))
    with pytest.raises(FloatingPointError, match="mask discovery became nan at epoch 1"):
        deb.fit(X, y, sensitive=A)
    with pytest.raises(NotFittedError):
        deb.predict(X)


class _Times(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, X):
        return X * self.factor


def test_an_interrupted_fit_leaves_everything_as_it_was(data, base_net, fast):
    X, y, A = data
    interrupting = _FaultAfter(base_net.module_, calls=40, fault=_interrupt)
    before = state_hash(interrupting)
    deb = FairMaskDebiaser(interrupting, strategy="prune_advft", **fast)
    with pytest.raises(KeyboardInterrupt):
        deb.fit(X, y, sensitive=A)
    assert state_hash(interrupting) == before and interrupting.calls == 40
    with pytest.raises(NotFittedError):
        check_is_fitted(deb)
    deb.set_params(estimator=FrozenEstimator(base_net)).fit(X, y, sensitive=A)
    assert deb.predict(X).shape == y.shape


class _RunsCode:
    """Pickles to a call of ``open(path, "w")``: loading it would create a file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


@pytest.mark.parametrize("save", [torch.save, lambda obj, path: path.write_bytes(pickle.dumps(obj))])
def test_a_malicious_pickle_is_refused_by_default(save, tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "model.pt"
    save(_RunsCode(marker), path)
    with pytest.raises(UntrustedModelError, match="trust_pickle=True"):
        load_model(path)
    assert not marker.exists()


def test_weights_files_load_into_a_copy_and_trusted_pickles_load(tmp_path):
    torch.manual_seed(0)
    trained = make_base_module(4, depth=2)
    torch.save(trained.state_dict(), tmp_path / "weights.pt")
    fresh = make_base_module(4, depth=2)
    fresh_hash = state_hash(fresh)
    loaded = load_model(tmp_path / "weights.pt", fresh)
    assert state_hash(loaded) == state_hash(trained) and state_hash(fresh) == fresh_hash
    with pytest.raises(ValueError, match="pass module="):
        load_model(tmp_path / "weights.pt")
    with pytest.raises(ValueError, match="do not fit"):
        load_model(tmp_path / "weights.pt", make_base_module(5, depth=2))
    torch.save(trained, tmp_path / "full.pt")
    with pytest.raises(UntrustedModelError):
        load_model(tmp_path / "full.pt")
    assert state_hash(load_model(tmp_path / "full.pt", trust_pickle=True)) == state_hash(trained)


def test_predict_proba_works_in_batches(data, deb, monkeypatch):
    import skfairmask._debiaser as debiaser

    X, y, A = data
    deb.fit(X, y, sensitive=A)
    whole = deb.predict_proba(X)
    monkeypatch.setattr(debiaser, "PREDICT_BATCH_ROWS", 7)
    np.testing.assert_allclose(deb.predict_proba(X.astype(np.float64)), whole, atol=1e-6)
    frame = pd.DataFrame(X)
    np.testing.assert_allclose(deb.predict_proba(frame), whole, atol=1e-6)
