"""FairMaskDebiaser as a scikit-learn citizen: routing, prot_attr, clones, searches, round trips."""

import pickle

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import (
    GridSearchCV,
    RandomizedSearchCV,
    StratifiedKFold,
    cross_val_score,
    cross_validate,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from skfairmask import FairMaskDebiaser, fairness_scoring, make_phi_scorer, select_fair_best, select_within_noise
from skfairmask.datasets import from_binary_label_dataset, to_binary_label_dataset
from skfairmask.network import to_skorch
from conftest import state_hash

pytestmark = pytest.mark.filterwarnings("ignore:No threshold kept")  # small folds may miss the tolerance

CV = StratifiedKFold(2, shuffle=True, random_state=0)


@pytest.fixture
def quick():
    return dict(strategy="prune", epochs=2, lr=0.3, beta=0.5, batch_size=64, random_state=0)


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def test_sensitive_is_routed_through_pipeline_and_every_search(biased_data, base_net, quick, routing):
    X, y, A = biased_data[1]
    pipe = make_pipeline(StandardScaler(), FairMaskDebiaser(FrozenEstimator(base_net), **quick))
    scorer = make_phi_scorer("spd", epsilon=0.1)
    # Each fit below fails loudly if sensitive does not reach the debiaser or the scorer.
    pipe.fit(X, y, sensitive=A)
    assert 0 <= pipe.score(X, y, sensitive=A) <= 1
    grid = GridSearchCV(pipe, {"fairmaskdebiaser__beta": [0.1, 0.5]}, scoring=scorer, cv=CV)
    grid.fit(X, y, sensitive=A)
    assert grid.best_params_["fairmaskdebiaser__beta"] in {0.1, 0.5}
    randomized = RandomizedSearchCV(pipe, {"fairmaskdebiaser__tau": [0.01, 0.1]}, n_iter=2,
                                    scoring=scorer, cv=CV, random_state=0)
    randomized.fit(X, y, sensitive=A)
    scores = cross_validate(pipe, X, y, params={"sensitive": A}, scoring=scorer, cv=CV)["test_score"]
    np.testing.assert_array_equal(scores, cross_val_score(pipe, X, y, params={"sensitive": A},
                                                          scoring=scorer, cv=CV))
    assert ((0 <= scores) & (scores <= 1)).all()


def _indexed(X, A, values=("Female", "Male")):
    """X as a DataFrame whose index level ``sex`` holds the attribute, as AIF360's datasets do."""
    index = pd.MultiIndex.from_arrays([np.arange(len(A)), np.where(A == 1, values[1], values[0])],
                                      names=["row", "sex"])
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])], index=index)


def test_prot_attr_reads_the_index_without_routing_and_survives_pandas_output(biased_data, base_net, quick):
    X, y, A = biased_data[1]
    frame = _indexed(X, A)
    deb = FairMaskDebiaser(FrozenEstimator(base_net), prot_attr="sex", priv_group="Male", **quick)
    pipe = make_pipeline(StandardScaler().set_output(transform="pandas"), deb)
    pipe.fit(frame, y)
    routed = make_pipeline(StandardScaler(), FairMaskDebiaser(FrozenEstimator(base_net), **quick))
    with sklearn.config_context(enable_metadata_routing=True):
        routed.fit(X, y, sensitive=A)
    np.testing.assert_array_equal(pipe.predict_proba(frame), routed.predict_proba(X))
    scorer = make_phi_scorer("spd", epsilon=0.1, prot_attr="sex", priv_group="Male")
    assert scorer(pipe, frame, y) == routed.score(X, y, sensitive=A)
    search = GridSearchCV(pipe, {"fairmaskdebiaser__beta": [0.1, 0.5]}, scoring=scorer, cv=CV).fit(frame, y)
    assert 0 <= search.best_score_ <= 1
    with pytest.raises(ValueError, match="not an index level"):
        FairMaskDebiaser(FrozenEstimator(base_net), prot_attr="race", **quick).fit(frame, y)


@pytest.mark.parametrize("kind", ["frozen", "bare skorch", "module"])
def test_clones_start_from_the_same_pretrained_weights(kind, biased_data, base_net, quick):
    X, y, A = biased_data[1]
    network = {"frozen": FrozenEstimator(base_net), "bare skorch": base_net, "module": base_net.module_}[kind]
    before = state_hash(base_net.module_)
    deb = FairMaskDebiaser(network, **quick)
    first = deb.fit(X, y, sensitive=A).predict_proba(X)
    twin = clone(deb)
    assert twin.estimator is network  # shared, never re-initialised
    np.testing.assert_array_equal(twin.fit(X, y, sensitive=A).predict_proba(X), first)
    assert state_hash(base_net.module_) == before


def test_a_reinitialised_skorch_net_is_refused_with_the_fix(biased_data, base_net, quick):
    X, y, A = biased_data[1]
    with pytest.raises(ValueError, match="FrozenEstimator"):
        FairMaskDebiaser(clone(base_net), **quick).fit(X, y, sensitive=A)


def test_grid_search_with_a_bare_skorch_net_keeps_its_weights(biased_data, base_net, quick, routing):
    X, y, A = biased_data[1]
    search = GridSearchCV(FairMaskDebiaser(base_net, **quick), {"beta": [0.1, 0.5]},
                          scoring=make_phi_scorer("spd", epsilon=0.1), cv=CV).fit(X, y, sensitive=A)
    reference = FairMaskDebiaser(FrozenEstimator(base_net), **{**quick, **search.best_params_})
    np.testing.assert_array_equal(search.predict_proba(X), reference.fit(X, y, sensitive=A).predict_proba(X))


def test_select_fair_best_prefers_accuracy_within_the_tolerance():
    results = {"mean_test_balanced_accuracy": [0.9, 0.8, 0.7, 0.85],
               "mean_test_neg_abs_bias": [-0.2, -0.04, -0.01, -0.049]}
    assert select_fair_best(0.05)(results) == 3
    assert select_fair_best(0.03)(results) == 2
    with pytest.warns(UserWarning, match="least biased"):
        assert select_fair_best(0.005)(results) == 2


def _fold_results(*folds, name="score"):
    """A cv_results_-like dict from per-candidate fold scores."""
    folds = np.asarray(folds, dtype=float)
    results = {f"mean_test_{name}": folds.mean(axis=1), f"std_test_{name}": folds.std(axis=1)}
    results.update({f"split{i}_test_{name}": folds[:, i] for i in range(folds.shape[1])})
    return results


def test_select_within_noise_leaves_the_first_candidate_only_for_a_lead_on_every_fold():
    # A higher mean that comes from one lucky fold is no evidence; a lead of the same size on both folds is.
    one_fold = _fold_results([0.70, 0.70], [0.68, 0.78])
    assert select_within_noise()(one_fold) == 0
    assert select_within_noise(None)(one_fold) == 1
    both_folds = _fold_results([0.60, 0.62], [0.75, 0.76])
    assert select_within_noise()(both_folds) == 1


def test_select_within_noise_asks_more_of_a_lead_the_more_candidates_it_compares():
    # A lead of 0.10 and 0.14: its lower 90% bound is 0.12 - 3.08 x 0.02 > 0 against one alternative, but
    # 0.12 - 15.9 x 0.02 < 0 when it is the best of five.
    lead = [0.80, 0.84]
    assert select_within_noise()(_fold_results([0.70, 0.70], lead)) == 1
    assert select_within_noise()(_fold_results([0.70, 0.70], *[[0.65, 0.66]] * 4, lead)) == 0
    # Of two clear winners, the larger mean lead is refitted.
    assert select_within_noise()(_fold_results([0.5, 0.5], [0.70, 0.71], [0.80, 0.81])) == 2


def test_select_within_noise_never_refits_a_failed_candidate():
    assert select_within_noise(score="phi")(_fold_results([0.6, 0.6], [np.nan, 0.9], name="phi")) == 0
    # Defaults that failed on a fold leave nothing to test against: the best finite mean is refitted.
    assert select_within_noise()(_fold_results([np.nan, 0.7], [0.5, 0.52], [0.6, 0.61])) == 2


def test_select_within_noise_names_what_is_wrong():
    with pytest.raises(ValueError, match="confidence"):
        select_within_noise(1.5)
    with pytest.raises(ValueError, match="score='phi'"):
        select_within_noise(score="phi")(_fold_results([0.6, 0.6], [0.7, 0.7]))


def test_a_search_refitted_within_noise_refits_its_rules_pick(biased_data, base_net, quick, routing):
    X, y, A = biased_data[1]
    search = GridSearchCV(FairMaskDebiaser(FrozenEstimator(base_net), **quick), {"beta": [0.5, 0.1, 0.3]},
                          scoring=make_phi_scorer("spd", epsilon=0.1), refit=select_within_noise(), cv=CV)
    search.fit(X, y, sensitive=A)
    assert search.best_index_ == select_within_noise()(search.cv_results_)
    assert search.best_params_ == search.cv_results_["params"][search.best_index_]
    reference = FairMaskDebiaser(FrozenEstimator(base_net), **{**quick, **search.best_params_})
    np.testing.assert_array_equal(search.predict(X), reference.fit(X, y, sensitive=A).predict(X))


def test_multi_metric_search_refits_the_best_fair_candidate(biased_data, base_net, quick, routing):
    X, y, A = biased_data[1]
    search = GridSearchCV(FairMaskDebiaser(FrozenEstimator(base_net), **quick),
                          {"strategy": ["none", "prune"], "beta": [0.1, 0.5]},
                          scoring=fairness_scoring("spd", epsilon=0.1), refit=select_fair_best(0.1), cv=CV)
    search.fit(X, y, sensitive=A)
    results = search.cv_results_
    assert {"mean_test_phi", "mean_test_balanced_accuracy", "mean_test_neg_abs_bias"} <= set(results)
    fair = -results["mean_test_neg_abs_bias"] < 0.1
    assert fair.any()
    assert search.best_index_ == np.flatnonzero(fair)[np.argmax(results["mean_test_balanced_accuracy"][fair])]


def test_pickle_gives_identical_predictions(biased_data, base_net, quick):
    X, y, A = biased_data[1]
    deb = FairMaskDebiaser(FrozenEstimator(base_net), **quick).fit(X, y, sensitive=A)
    restored = pickle.loads(pickle.dumps(deb))
    np.testing.assert_array_equal(restored.predict_proba(X), deb.predict_proba(X))
    np.testing.assert_array_equal(restored.predict(X), deb.predict(X))


def test_the_debiased_net_round_trips_through_skorch_params(biased_data, base_net, quick, tmp_path):
    import copy

    X, y, A = biased_data[1]
    deb = FairMaskDebiaser(FrozenEstimator(base_net), **quick).fit(X, y, sensitive=A)
    deb.net_.save_params(f_params=tmp_path / "params.pt")
    fresh = to_skorch(copy.deepcopy(deb.net_.module_), threshold=deb.threshold_)
    for p in fresh.module_.parameters():
        p.data.zero_()
    fresh.load_params(f_params=tmp_path / "params.pt")
    np.testing.assert_allclose(fresh.predict_proba(X), deb.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(fresh.predict(X), deb.predict(X))


def test_fit_accepts_a_binary_label_dataset(biased_data, base_net, quick):
    X, y, A = biased_data[1]
    dataset = to_binary_label_dataset(X, y, A)
    X_back, y_back, A_back = from_binary_label_dataset(dataset)
    np.testing.assert_allclose(X_back.to_numpy()[:, :-1], X, rtol=1e-6)  # AIF360 keeps A among the features
    np.testing.assert_array_equal(y_back, y)
    np.testing.assert_array_equal(A_back, A)
    # The base network takes X without A, so debias a network trained on AIF360's features.
    from skfairmask.network import train_base_network

    net = train_base_network(X_back.to_numpy(np.float32), y, epochs=2, random_state=0)
    from_dataset = FairMaskDebiaser(FrozenEstimator(net), **quick).fit(dataset)
    from_arrays = FairMaskDebiaser(FrozenEstimator(net), **quick).fit(X_back, y_back, sensitive=A_back)
    np.testing.assert_array_equal(from_dataset.predict_proba(dataset), from_arrays.predict_proba(X_back))
    with pytest.raises(ValueError, match="requires y to be passed"):
        FairMaskDebiaser(FrozenEstimator(net), **quick).fit(X_back)


class FirstColumnAttribute(FairMaskDebiaser):
    """FairMaskDebiaser reading the protected attribute from X's first column, split at its median.

    The common checks call ``fit(X, y)`` with no metadata; metadata in those
    checks is still an open question in scikit-learn. This wrapper lets the
    checks that fit run for real. Its default network (``estimator=None``,
    trained on part of the rows) is binary, so it says so in its tags. The
    checks test the API, and some want accuracy on data whose classes the
    first column separates, so the instance below has a wide tolerance.
    """

    def fit(self, X, y=None, *, sensitive=None):
        if sensitive is None and y is not None:
            try:
                first = np.asarray(X, dtype=float).reshape(len(np.asarray(y)), -1)[:, 0]
                sensitive = (first > np.nanmedian(first)).astype(int)
            except (TypeError, ValueError, IndexError):
                pass  # data the estimator must refuse: let fit say why
        return super().fit(X, y, sensitive=sensitive)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


# The check's 200 rows: the groups that the first column makes differ in their labels (SPD of the true
# labels -0.36), so an accurate rule has |SPD| near 0.36, and the 49 safety rows bound it above 0.5.
# The rule the fit keeps is fairer and less accurate than the check's 0.83 accuracy: here one of balanced
# accuracy 0.77, certified at epsilon 0.21; on other processors' base networks, a constant.
_FAIR_ONLY_IF_CONSTANT = ("on the check's 200 rows an accurate rule has |SPD| near 0.36, which 49 safety rows "
                          "cannot certify under epsilon=0.5, so the fit keeps a fairer rule, less accurate than "
                          "the check's 0.83")
_EXPECTED_FAILED = {
    "check_classifiers_train": _FAIR_ONLY_IF_CONSTANT,
    "check_classifiers_train(readonly_memmap=True)": _FAIR_ONLY_IF_CONSTANT,
    "check_classifiers_train(readonly_memmap=True,X_dtype=float32)": _FAIR_ONLY_IF_CONSTANT,
}


@parametrize_with_checks(
    [FirstColumnAttribute(epsilon=0.5, random_state=0, n_threads=1)],
    expected_failed_checks=lambda estimator: _EXPECTED_FAILED,
)
def test_scikit_learn_common_checks(estimator, check):
    check(estimator)


def test_grid_search_on_a_dask_cluster_matches_a_sequential_run(biased_data, base_net, quick, routing):
    import joblib
    from distributed import Client, LocalCluster

    X, y, A = biased_data[1]
    search = GridSearchCV(FairMaskDebiaser(FrozenEstimator(base_net), **quick),
                          {"strategy": ["none", "prune"], "beta": [0.1, 0.5]},
                          scoring=make_phi_scorer("spd", epsilon=0.1), cv=CV, n_jobs=2)
    sequential = clone(search).set_params(n_jobs=1).fit(X, y, sensitive=A)
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, Client(cluster):
        with joblib.parallel_backend("dask"):
            search.fit(X, y, sensitive=A)
    assert search.best_params_ == sequential.best_params_
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"])


def test_several_groups_and_intersectional_prot_attr(biased_data, base_net, quick):
    from skfairmask.metrics import statistical_parity_difference

    X, y, A = biased_data[1]
    region = np.arange(len(y)) % 3  # a second attribute: sex × region makes six groups
    groups = np.column_stack([A, region])
    base_gap = abs(statistical_parity_difference(y, base_net.predict(X), sensitive=groups))
    deb = FairMaskDebiaser(FrozenEstimator(base_net), **{**quick, "strategy": "prune_advft"},
                           finetune_epochs=3).fit(X, y, sensitive=groups)
    assert abs(statistical_parity_difference(y, deb.predict(X), sensitive=groups)) < base_gap
    index = pd.MultiIndex.from_arrays([A, region], names=["sex", "region"])
    frame = pd.DataFrame(X, index=index)
    from_index = FairMaskDebiaser(FrozenEstimator(base_net), prot_attr=["sex", "region"],
                                  **{**quick, "strategy": "prune_advft"}, finetune_epochs=3).fit(frame, y)
    np.testing.assert_array_equal(from_index.predict_proba(frame), deb.predict_proba(X))
    assert from_index.score(frame, y) == deb.score(X, y, sensitive=groups)
