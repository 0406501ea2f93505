import numpy as np
import pytest
import sklearn
from sklearn.model_selection import cross_validate

from skfairmask import FairMaskDebiaser, make_phi_scorer, phi_score
from skfairmask.datasets import to_binary_label_dataset
from skfairmask.metrics import (
    average_odds_difference,
    balanced_accuracy_rows,
    bias_gap,
    equal_opportunity_difference,
    statistical_parity_difference,
)

MEASURES = {
    "statistical_parity_difference": statistical_parity_difference,
    "equal_opportunity_difference": equal_opportunity_difference,
    "average_odds_difference": average_odds_difference,
}


@pytest.mark.parametrize("seed", range(5))
def test_measures_agree_with_aif360(seed):
    from aif360.metrics import ClassificationMetric

    rng = np.random.default_rng(seed)
    n = 500
    y, pred, A = (rng.random((3, n)) < [[0.4], [0.5], [0.6]]).astype(int)
    X = rng.normal(size=(n, 2))
    metric = ClassificationMetric(
        to_binary_label_dataset(X, y, A), to_binary_label_dataset(X, pred, A),
        unprivileged_groups=[{"sensitive": 0}], privileged_groups=[{"sensitive": 1}],
    )
    for name, ours in MEASURES.items():
        assert ours(y, pred, sensitive=A) == pytest.approx(getattr(metric, name)(), abs=1e-9)


def test_hand_computed_spd():
    y = np.array([0, 1, 0, 1, 0, 1])
    pred = np.array([1, 1, 0, 1, 0, 0])
    A = np.array([0, 0, 0, 1, 1, 1])
    # unprivileged select 2/3, privileged 1/3
    assert statistical_parity_difference(y, pred, sensitive=A) == pytest.approx(1 / 3)
    # TPR: unprivileged 1/1, privileged 1/2
    assert equal_opportunity_difference(y, pred, sensitive=A) == pytest.approx(0.5)


def test_stacked_predictions_match_row_by_row():
    rng = np.random.default_rng(0)
    y, A = (rng.random((2, 200)) < 0.5).astype(float)
    stack = (rng.random((7, 200)) < 0.4).astype(float)
    gaps = bias_gap(y, stack, A, "aod")
    assert gaps.shape == (7,)
    for row, gap in zip(stack, gaps):
        assert gap == pytest.approx(average_odds_difference(y, row, sensitive=A))
    from sklearn.metrics import balanced_accuracy_score
    np.testing.assert_allclose(balanced_accuracy_rows(y, stack), [balanced_accuracy_score(y, r) for r in stack])


def test_phi_is_zero_exactly_outside_tolerance():
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    A = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    fair = y.copy()
    unfair = np.array([1, 1, 1, 1, 0, 1, 0, 1])
    assert phi_score(y, fair, sensitive=A) == 1.0
    assert statistical_parity_difference(y, unfair, sensitive=A) == pytest.approx(0.5)
    assert phi_score(y, unfair, sensitive=A) == 0.0
    assert phi_score(y, unfair, sensitive=A, epsilon=0.51) > 0


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="same length"):
        statistical_parity_difference([0, 1], [0, 1, 1], sensitive=[0, 1])
    with pytest.raises(ValueError, match="single group"):
        statistical_parity_difference([0, 1], [0, 1], sensitive=[1, 1])
    with pytest.raises(ValueError, match="y_pred must be coded 0/1"):
        statistical_parity_difference([0, 1], [0.3, 1], sensitive=[0, 1])
    with pytest.raises(ValueError, match="bias_metric"):
        make_phi_scorer("xyz")


@pytest.mark.filterwarnings("ignore:No threshold kept")  # half the rows: tolerance may be unmet
def test_phi_scorer_receives_sensitive_through_routing(biased_data, base_net):
    from sklearn.frozen import FrozenEstimator

    X, y, A = biased_data[1]
    with sklearn.config_context(enable_metadata_routing=True):
        scores = cross_validate(
            FairMaskDebiaser(FrozenEstimator(base_net), strategy="none", random_state=0),
            X, y, params={"sensitive": A}, scoring=make_phi_scorer("spd", epsilon=0.05), cv=2,
        )
    assert scores["test_score"].shape == (2,)
    assert ((scores["test_score"] >= 0) & (scores["test_score"] <= 1)).all()


def test_several_groups_give_the_largest_gap_between_a_group_and_the_rest():
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0])
    pred = np.array([1, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0])
    A = np.array(["a"] * 4 + ["b"] * 4 + ["c"] * 4)
    # selection rates: a 3/4, b 1/4, c 1/4; each group against the other eight rows
    gaps = {"a": 3 / 4 - 2 / 8, "b": 1 / 4 - 4 / 8, "c": 1 / 4 - 4 / 8}
    assert statistical_parity_difference(y, pred, sensitive=A) == pytest.approx(gaps["a"])
    assert abs(statistical_parity_difference(y, 1 - pred, sensitive=A)) == pytest.approx(0.5)
    # TPR: a 2/2, b 1/2, c 1/2; against the rest: a 1 - 2/4, b 1/2 - 3/4, c 1/2 - 3/4
    assert equal_opportunity_difference(y, pred, sensitive=A) == pytest.approx(0.5)
    assert phi_score(y, pred, sensitive=A, epsilon=0.6) > 0 and phi_score(y, pred, sensitive=A) == 0


def test_intersectional_groups_are_the_combinations_of_attributes():
    rng = np.random.default_rng(0)
    y, pred = (rng.random((2, 400)) < 0.5).astype(int)
    sex, race = (rng.random((2, 400)) < 0.5).astype(int)
    combined = np.array([f"{s}{r}" for s, r in zip(sex, race)])
    for measure in MEASURES.values():
        assert measure(y, pred, sensitive=np.column_stack([sex, race])) == pytest.approx(
            measure(y, pred, sensitive=combined))


def test_two_groups_in_one_hot_form_give_aifs_gap():
    rng = np.random.default_rng(1)
    y, pred, A = (rng.random((3, 300)) < 0.5).astype(float)
    for metric, measure in zip(("spd", "eod", "aod"), MEASURES.values()):
        # column 0 is the unprivileged group, so its gap against the rest is AIF360's sign too
        assert float(bias_gap(y, pred, np.eye(2)[A.astype(int)], metric)) == pytest.approx(
            measure(y, pred, sensitive=A))


def test_multiclass_bias_is_the_mean_absolute_per_class_gap():
    from skfairmask.metrics import multiclass_gap

    y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])
    pred = np.array([0, 1, 2, 0, 1, 1, 0, 0, 2, 2, 1, 2])
    A = np.array([0] * 6 + [1] * 6)
    # P(ŷ=c): domain 0 → (2/6, 3/6, 1/6), domain 1 → (2/6, 1/6, 3/6); gaps 0, 2/6, 2/6
    assert statistical_parity_difference(y, pred, sensitive=A) == pytest.approx(4 / 18)
    # TPR_c: domain 0 → (1, 1, 1/2), domain 1 → (1/2, 1/2, 1); gaps 1/2, 1/2, 1/2
    assert equal_opportunity_difference(y, pred, sensitive=A) == pytest.approx(0.5)
    assert multiclass_gap(y, pred, sensitive=A, bias_metric="spd") == pytest.approx(4 / 18)
    from sklearn.metrics import balanced_accuracy_score

    assert phi_score(y, pred, sensitive=A, epsilon=0.25) == pytest.approx(balanced_accuracy_score(y, pred))
    assert phi_score(y, pred, sensitive=A, epsilon=0.2) == 0.0
    with pytest.raises(ValueError, match="not defined for more than two classes"):
        average_odds_difference(y, pred, sensitive=A)


def test_binary_labels_keep_the_signed_aif360_measures():
    y = np.array([0, 1, 0, 1, 0, 1])
    pred = np.array([1, 1, 0, 1, 0, 0])
    A = np.array([0, 0, 0, 1, 1, 1])
    assert statistical_parity_difference(y, pred, sensitive=A) == pytest.approx(1 / 3)   # signed
    assert statistical_parity_difference(y, 1 - pred, sensitive=A) == pytest.approx(-1 / 3)


def test_the_phi_scorer_names_the_routing_fix_when_sensitive_never_arrives(biased_data, base_net):
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import GridSearchCV

    X, y, A = biased_data[1]
    deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy="none", random_state=0).fit(X, y, sensitive=A)
    scorer = make_phi_scorer("spd")
    with pytest.raises(ValueError, match=r"enable_metadata_routing=True.*set_score_request"):
        scorer(deb, X, y)
    # What a newcomer sees from a search without routing: the fix, in the warning.
    search = GridSearchCV(FairMaskDebiaser(FrozenEstimator(base_net), strategy="none"), {"epsilon": [0.05]},
                          scoring=scorer, cv=2)
    with pytest.warns(UserWarning, match="enable_metadata_routing=True"):
        search.fit(X, y, sensitive=A)


def test_a_new_measure_is_one_entry_of_the_registry(monkeypatch, biased_data, base_net):
    from sklearn.frozen import FrozenEstimator

    from skfairmask.metrics import BIAS_METRICS, BiasMeasure
    from skfairmask.objective import FairnessObjective
    from skfairmask.report import fairness_summary

    # The false positive rate gap, say: the rate among the truly unfavourable rows, one term.
    fpr = BiasMeasure("fpr", "false positive rate difference", "FPR(A=0) − FPR(A=1)", terms=((0, 1.0),),
                      multiclass=False)
    monkeypatch.setitem(BIAS_METRICS, "fpr", fpr)
    X, y, A = biased_data[2]
    pred = (X[:, 0] > 0).astype(int)
    expected = pred[(A == 0) & (y == 0)].mean() - pred[(A == 1) & (y == 0)].mean()
    assert bias_gap(y, pred, A, "fpr") == pytest.approx(expected)
    assert fairness_summary(y, pred, A)["fpr"] == pytest.approx(expected)
    evaluation = FairnessObjective(bias_metric="fpr").evaluate_predictions(y, pred, A)
    assert evaluation.bias[0] == pytest.approx(expected) and evaluation.abs_bias_upper[0] > abs(expected)
    # Validation reads which labels it needs, and the estimator accepts it by name.
    with pytest.raises(ValueError, match="needs negative labels in each group"):
        FairMaskDebiaser(FrozenEstimator(base_net), bias_metric="fpr").fit(X, np.where(A == 0, 1, y), sensitive=A)
    deb = FairMaskDebiaser(FrozenEstimator(base_net), bias_metric="fpr", strategy="none", random_state=0)
    assert 0 <= deb.fit(*biased_data[1][:2], sensitive=biased_data[1][2]).score(X, y, sensitive=A) <= 1
    with pytest.raises(ValueError, match="not defined for more than two classes"):
        FairnessObjective(bias_metric="fpr").evaluate_classes(np.arange(9) % 3, np.eye(3)[np.arange(9) % 3],
                                                              np.arange(9) % 2)
