import json
import warnings

import numpy as np
import pytest
import sklearn
import torch
from skorch import NeuralNetClassifier
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GridSearchCV
from torch import nn

from skfairmask import FairMaskDebiaser, make_phi_scorer
from skfairmask.metrics import statistical_parity_difference
from skfairmask.objective import FairnessObjective
from skfairmask.report import fairness_summary
from skfairmask.network import FavourableLogit, train_base_network
from skfairmask.strategies import STRATEGIES
from conftest import state_hash



def _test_bias(predict, data):
    X, y, A = data
    return abs(statistical_parity_difference(y, predict(X), sensitive=A))


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_each_strategy_lowers_bias_and_keeps_user_network(strategy, biased_data, base_net, fast):
    before = state_hash(base_net.module_)
    base_bias = _test_bias(base_net.predict, biased_data[2])
    assert base_bias > 0.1, "the synthetic base network should be visibly unfair"

    deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy=strategy, **fast)
    deb.fit(*biased_data[1][:2], sensitive=biased_data[1][2])

    assert _test_bias(deb.predict, biased_data[2]) < base_bias / 2
    assert state_hash(base_net.module_) == before
    proba = deb.predict_proba(biased_data[2][0])
    assert proba.shape == (len(biased_data[2][0]), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(np.unique(deb.predict(biased_data[2][0]))) <= {0, 1}

    params = dict(deb.net_.module_.module.named_parameters())
    for name, mask in deb.mask_.items():
        assert mask.shape == params[name].shape
        if STRATEGIES[deb.strategy_].prunes:
            assert torch.all(params[name][~mask] == 0), f"{name}: pruned weights must be exactly zero"
    if STRATEGIES[deb.strategy_].finds_mask:
        assert 0 < deb.pruning_rate_ < 1
    else:
        assert deb.pruning_rate_ == 0
    if strategy in {"graft_noise", "graft_internal"}:
        refilled = torch.cat([params[n][~m] for n, m in deb.mask_.items()])
        assert (refilled != 0).float().mean() > 0.5, "grafting refills the corrupted weights"


def test_fitted_attributes_and_history(biased_data, base_net, fast):
    deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy="prune_advft", **fast).fit(
        *biased_data[1][:2], sensitive=biased_data[1][2])
    assert deb.n_features_in_ == biased_data[1][0].shape[1]
    assert list(deb.classes_) == [0, 1]
    assert 0 < deb.threshold_ < 1
    assert deb.net_.threshold == deb.threshold_
    assert [r["epoch"] for r in deb.history_["mask_discovery"]] == [1, 2, 3]
    assert {"loss", "density", "bias"} <= set(deb.history_["mask_discovery"][0])
    assert {"loss", "bias", "rank", "bias_bound"} <= set(deb.history_["finetune"][0])
    assert deb.strategy_ == "prune_advft"
    assert set(deb.certificate_) >= {"tolerance_met", "certified_epsilon", "bias_interval", "ba_interval"}
    assert set(deb.pruning_rate_by_layer_) == set(deb.mask_)
    assert {"mask_discovery", "finetune", "total"} <= set(deb.timings_)
    # net_ predicts like the debiaser
    X = biased_data[2][0]
    np.testing.assert_array_equal(deb.net_.predict(X), deb.predict(X))


def test_same_random_state_gives_identical_predictions(biased_data, base_net, fast):
    X, y, A = biased_data[1]
    a = FairMaskDebiaser(FrozenEstimator(base_net), **fast).fit(X, y, sensitive=A)
    b = FairMaskDebiaser(FrozenEstimator(base_net), **fast).fit(X, y, sensitive=A)
    np.testing.assert_array_equal(a.predict_proba(biased_data[2][0]), b.predict_proba(biased_data[2][0]))
    assert a.threshold_ == b.threshold_


def test_bare_skorch_net_and_module_are_untouched(biased_data, base_net, fast):
    X, y, A = biased_data[1]
    module = base_net.module_
    before = state_hash(module)
    FairMaskDebiaser(base_net, **fast).fit(X, y, sensitive=A)
    FairMaskDebiaser(module, **fast).fit(X, y, sensitive=A)
    assert state_hash(module) == before
    assert module.training is base_net.module_.training


class TwoLogits(nn.Module):
    def __init__(self, n_features):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, 16), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, X):
        return self.body(X)


def test_two_logit_module_and_nll_skorch_classifier(biased_data, fast):
    X, y, A = biased_data[0]
    torch.manual_seed(0)
    softmax_net = NeuralNetClassifier(
        nn.Sequential(TwoLogits(X.shape[1]), nn.Softmax(dim=-1)), max_epochs=3, train_split=None, verbose=0,
    ).fit(X, y.astype(np.int64))
    Xv, yv, Av = biased_data[1]
    deb = FairMaskDebiaser(softmax_net, strategy="none", **fast).fit(Xv, yv, sensitive=Av)
    # skorch's NLLLoss convention: the module outputs probabilities
    expected = softmax_net.predict_proba(Xv)[:, 1]
    np.testing.assert_allclose(deb.predict_proba(Xv)[:, 1], expected, rtol=1e-4, atol=1e-5)

    deb = FairMaskDebiaser(TwoLogits(X.shape[1]), strategy="prune", **fast).fit(Xv, yv, sensitive=Av)
    assert deb.predict(Xv).shape == yv.shape


def test_estimator_none_trains_a_default_network(biased_data, fast):
    X, y, A = biased_data[0]
    deb = FairMaskDebiaser(None, strategy="none", validation_size=0.4, **fast).fit(X, y, sensitive=A)
    assert deb.predict(biased_data[2][0]).shape == (len(biased_data[2][0]),)
    assert isinstance(deb.net_.module_, FavourableLogit)


def test_string_labels_keep_their_classes(biased_data, base_net, fast):
    X, y, A = biased_data[1]
    labels = np.where(y == 1, "good", "bad")
    deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy="none", **fast).fit(X, labels, sensitive=A)
    assert list(deb.classes_) == ["bad", "good"]
    assert set(deb.predict(X)) <= {"bad", "good"}
    assert 0 <= deb.score(X, labels, sensitive=A) <= 1


def test_clone_starts_from_the_same_weights(biased_data, base_net, fast):
    X, y, A = biased_data[1]
    deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy="none", **fast)
    a = deb.fit(X, y, sensitive=A).predict_proba(X)
    b = clone(deb).fit(X, y, sensitive=A).predict_proba(X)
    np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore:No threshold kept")  # half the rows: tolerance may be unmet
def test_grid_search_over_phi_with_routing(biased_data, base_net, fast):
    X, y, A = biased_data[1]
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            FairMaskDebiaser(FrozenEstimator(base_net), **fast),
            {"strategy": ["none", "prune"]},
            scoring=make_phi_scorer("spd", epsilon=0.05),
            cv=2,
        ).fit(X, y, sensitive=A)
    assert search.best_params_["strategy"] in {"none", "prune"}
    assert 0 <= search.best_score_ <= 1


def test_fixed_threshold_is_used_as_given(biased_data, base_net, fast):
    X, y, A = biased_data[1]
    deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy="none", threshold=0.5, **fast)
    with pytest.warns(UserWarning, match="could not be certified"):
        deb.fit(X, y, sensitive=A)  # the unfair network at 0.5 cannot meet the tolerance
    assert deb.threshold_ == 0.5
    assert deb.tolerance_met_ is False
    assert deb.certificate_["n_tested"] == 1
    np.testing.assert_array_equal(deb.predict(X), (deb.predict_proba(X)[:, 1] > 0.5).astype(int))
    np.testing.assert_array_equal(deb.predict(X), base_net.predict(X))


def test_fixed_threshold_path_is_certified_by_the_same_objective_as_the_tuned_path(biased_data, base_net, fast):
    X, y, A = biased_data[1]
    tuned = FairMaskDebiaser(FrozenEstimator(base_net), strategy="none", **fast).fit(X, y, sensitive=A)
    fixed = FairMaskDebiaser(FrozenEstimator(base_net), strategy="none", threshold=tuned.threshold_, **fast)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed.fit(X, y, sensitive=A)
    # The same safety rows, the same rule: the same estimate, interval and bound.
    for key in ("bias", "bias_interval", "balanced_accuracy", "ba_interval", "n_rows"):
        assert fixed.certificate_[key] == pytest.approx(tuned.certificate_[key])
    low, high = fixed.bias_interval_
    assert fixed.certified_epsilon_ >= max(high, -low) - 1e-12
    assert fixed.validation_scores_ == pytest.approx(tuned.validation_scores_)


def test_unreachable_tolerance_warns_and_is_recorded(biased_data, base_net, fast):
    X, y, A = biased_data[1]
    # The surest rule, a constant's neighbour: the default would hand back an uncertified rule instead.
    deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy="none", epsilon=0.0101, fallback="surest", **fast)
    with pytest.warns(UserWarning, match="tolerance_met_ is False"):
        deb.fit(X, y, sensitive=A)
    assert deb.tolerance_met_ is False
    assert deb.validation_scores_["phi"] <= 0.5


def test_n_bootstrap_changes_only_the_bounds(biased_data, base_net, fast):
    X, y, A = biased_data[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = {n: FairMaskDebiaser(FrozenEstimator(base_net), strategy="prune", n_bootstrap=n, **fast)
                .fit(X, y, sensitive=A) for n in (0, 200)}
    # The weights are the same; the bounds that chose and certified the rule are other figures.
    assert state_hash(fits[0].net_.module_) == state_hash(fits[200].net_.module_)
    assert fits[0].certificate_["ba_interval"] != fits[200].certificate_["ba_interval"]


def test_a_fit_is_the_same_whatever_thread_count_the_caller_set(biased_data, base_net, fast):
    X, y, A = biased_data[1]
    caller = torch.get_num_threads()
    fits = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        try:
            deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy="prune_advft", **fast).fit(X, y, sensitive=A)
            fits.append(deb.predict_proba(biased_data[2][0]))
            assert torch.get_num_threads() == threads, "the caller's setting is restored"
        finally:
            torch.set_num_threads(caller)
    np.testing.assert_array_equal(fits[0], fits[1])
    assert deb.n_threads_ == 1  # a small network runs on one thread


def test_a_constant_prediction_is_never_a_success(base_net, fast):
    # Labels that only the group predicts, and a tolerance no rule that predicts both classes can be
    # certified at on 294 safety rows (one row moves a group's rate by 1/147): the only rule certified fair
    # is a constant. (At epsilon=0.05 a rule that leans on the group a little can be certified fair and,
    # narrowly, better than a constant, and does on some processors' base network.) Even on all 600 rows no
    # rule that predicts both classes has its bound under 0.005, so the default fallback has nothing to return.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 8)).astype(np.float32)
    A = (rng.random(600) < 0.5).astype(int)
    X[:, -1] = A
    y = (rng.random(600) < 0.3 + 0.4 * A).astype(int)
    deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy="none", epsilon=0.005, **fast)
    with pytest.warns(UserWarning, match="tolerance_met_ is False"):
        deb.fit(X, y, sensitive=A)
    assert deb.certificate_["constant"] and deb.certificate_["fair"]
    assert len(np.unique(deb.predict(X))) == 1
    assert deb.tolerance_met_ is False
    # The tolerance a constant supports is 0, which the CLI and warnings print as 0.000, not -0.000.
    assert f"{deb.certified_epsilon_:.3f}" == "0.000"


def test_a_fit_that_certifies_nothing_useful_returns_the_most_accurate_rule_that_looks_fair(uncertifiable):
    X, y, A, network = uncertifiable
    deb = FairMaskDebiaser(network, strategy="none", random_state=0)
    with pytest.warns(UserWarning, match="nothing about it is certified"):
        deb.fit(X, y, sensitive=A)
    certificate = deb.certificate_
    assert certificate["rows"] == "uncertified" and deb.tolerance_met_ is False
    assert deb.certified_epsilon_ == np.inf and not certificate["fair"] and not certificate["constant"]
    json.dumps(certificate, allow_nan=False)  # decision_rule.json stays strict JSON: no infinity in it
    # "none" learns nothing from the rows, so the rule was read on all of them: its figures are their audit.
    audit = fairness_summary(y, deb.predict(X), A)
    assert audit["spd"] == pytest.approx(certificate["bias"])
    assert audit["balanced_accuracy"] == pytest.approx(certificate["balanced_accuracy"])
    assert audit["balanced_accuracy"] > 0.6  # useful, where the surest rule is a constant (0.5)
    low, high = certificate["bias_interval"]
    assert max(-low, high) < deb.epsilon
    # The same fit asked for its surest rule hands back the constant, the only rule it certified.
    surest = clone(deb).set_params(fallback="surest")
    with pytest.warns(UserWarning, match="exactly fair, and useless"):
        surest.fit(X, y, sensitive=A)
    assert surest.certificate_["constant"] and len(np.unique(surest.predict(X))) == 1


def test_offset_realises_one_threshold_per_group_when_the_attribute_is_a_column(biased_data, base_net, fast):
    X, y, A = biased_data[1]  # the last column of X is A
    deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy="offset", **fast).fit(X, y, sensitive=A)
    assert deb.strategy_ == "offset"
    offset = deb.net_.module_.input_offset
    assert offset is not None and offset.abs().argmax() == X.shape[1] - 1, "the offset reads the group column"
    # Every row's logit is shifted by an amount that depends on its group alone: the rule is
    # exactly one threshold per group on the network's logit.
    assert (offset != 0).sum() == 1
    X_test, y_test, A_test = biased_data[2]
    before = base_net.predict_proba(X_test)[:, 1]
    after = deb.predict_proba(X_test)[:, 1]
    shift = np.log(after / (1 - after)) - np.log(before / (1 - before))
    for group in (0, 1):
        assert shift[A_test == group].std() < 1e-3 * abs(shift[A_test == 1].mean() - shift[A_test == 0].mean())
    # The wrapper carries the edit: net_ predicts as the debiaser does, and pickles with it.
    np.testing.assert_array_equal(deb.net_.predict(X_test), deb.predict(X_test))
    import pickle
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(deb)).predict_proba(X_test), deb.predict_proba(X_test))


def _debiasing_rows_and_network(biased_data, base_net, keep_column):
    """The debiasing rows and a base network: the group's column of X kept, or dropped before training."""
    X, y, A = biased_data[1]
    if keep_column:
        return X, y, A, base_net
    train_X, train_y, _ = biased_data[0]
    return X[:, :-1], y, A, train_base_network(train_X[:, :-1], train_y, epochs=5, random_state=0)


@pytest.mark.parametrize("keep_column, hedged", [(True, False), (False, True)])
def test_the_choice_on_the_safety_rows_hedges_only_where_the_offset_reads_proxies(
        biased_data, base_net, monkeypatch, keep_column, hedged):
    # With the group column in X the offset's g reads it alone, and its estimates on the choice rows are
    # honest: one ladder at the whole error, and the rule kept is chosen on both rows' estimates pooled.
    # Without it, g reads proxies fitted to the training rows: two ladders, each at half the error, the
    # certificate stating the fit's confidence, and the choice reads the safety rows' estimates alone.
    X, y, A, net = _debiasing_rows_and_network(biased_data, base_net, keep_column)
    calls = []
    for name in ("certify", "certify_hedged"):
        method = getattr(FairnessObjective, name)
        monkeypatch.setattr(FairnessObjective, name,
                            lambda self, *args, _method=method, _name=name, **kwargs: calls.append(
                                (_name, self.confidence, kwargs.get("future_ratio") is not None))
                            or _method(self, *args, **kwargs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The certification is under test, not what a fit that certifies nothing hands back instead.
        deb = FairMaskDebiaser(FrozenEstimator(net), strategy="offset", epsilon=0.05, confidence=0.8,
                               fallback="surest", random_state=0).fit(X, y, sensitive=A)
    assert deb.certificate_["rows"] == "safety"
    expected = ("certify_hedged", pytest.approx(0.9), False) if hedged else ("certify", pytest.approx(0.8), True)
    assert calls == [expected]
    assert deb.certificate_["confidence"] == pytest.approx(0.8)


@pytest.mark.parametrize("epsilon, keep_column, rows", [(0.3, True, "all"), (0.05, True, "safety"),
                                                        (0.3, False, "safety")])
def test_the_final_choice_reads_every_row_only_where_the_band_is_narrower_than_epsilon(
        biased_data, base_net, epsilon, keep_column, rows):
    # Every row's band: the group column must be in X (so that every candidate is one threshold per
    # group), and the band, from the row counts alone, narrower than epsilon (about 0.12 for SPD on
    # these 800 rows). Otherwise the choice is certified on the safety rows.
    X, y, A, net = _debiasing_rows_and_network(biased_data, base_net, keep_column)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        deb = FairMaskDebiaser(FrozenEstimator(net), strategy="offset", epsilon=epsilon, random_state=0).fit(
            X, y, sensitive=A)
    certificate = deb.certificate_
    assert certificate["rows"] == rows
    if rows == "all":
        assert certificate["n_rows"] == len(y) and "rows given to fit" in certificate["certified_on"]
        assert certificate["fair"]
        # What the certificate says of the rows is what the returned model does on them.
        predictions = deb.predict(X)
        assert balanced_accuracy_score(y, predictions) == pytest.approx(certificate["balanced_accuracy"])
        assert statistical_parity_difference(y, predictions, sensitive=A) == pytest.approx(certificate["bias"])
        assert deb.certified_epsilon_ == pytest.approx(certificate["bias_interval"][1] - certificate["bias"]
                                                       + abs(certificate["bias"]))
        assert deb.certified_epsilon_ < epsilon
