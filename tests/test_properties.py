"""Properties of the measures, Φ and the threshold search, on inputs hypothesis makes up."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import balanced_accuracy_score

from skfairmask import phi_score
from skfairmask.datasets import to_binary_label_dataset
from skfairmask.metrics import (
    average_odds_difference,
    equal_opportunity_difference,
    statistical_parity_difference,
)
from skfairmask.objective import FairnessObjective
from skfairmask.threshold import candidate_thresholds

MEASURES = {
    "spd": statistical_parity_difference,
    "eod": equal_opportunity_difference,
    "aod": average_odds_difference,
}
AIF360_NAMES = {
    "spd": "statistical_parity_difference",
    "eod": "equal_opportunity_difference",
    "aod": "average_odds_difference",
}


@st.composite
def labelled_groups(draw, min_size=8, max_size=80):
    """(y, y_pred, sensitive) with both labels present in both groups.

    The first four rows are the four (group, label) cells, so no draw is wasted.
    """
    n = draw(st.integers(min_size, max_size))
    y, pred, A = (draw(arrays(np.int64, n, elements=st.integers(0, 1))) for _ in range(3))
    A[:4], y[:4] = [0, 0, 1, 1], [0, 1, 0, 1]
    return y, pred, A


@settings(max_examples=60, deadline=None)
@given(labelled_groups())
def test_measures_are_bounded_and_flip_sign_when_groups_swap(data):
    y, pred, A = data
    for measure in MEASURES.values():
        value = measure(y, pred, sensitive=A)
        assert -1.0 <= value <= 1.0
        assert measure(y, pred, sensitive=1 - A) == pytest.approx(-value, abs=1e-12)


@settings(max_examples=15, deadline=None)
@given(labelled_groups(min_size=10, max_size=40))
def test_measures_agree_with_aif360_on_any_input(data):
    from aif360.metrics import ClassificationMetric

    y, pred, A = data
    X = np.zeros((len(y), 1))
    metric = ClassificationMetric(
        to_binary_label_dataset(X, y, A), to_binary_label_dataset(X, pred, A),
        unprivileged_groups=[{"sensitive": 0}], privileged_groups=[{"sensitive": 1}],
    )
    for name, measure in MEASURES.items():
        assert measure(y, pred, sensitive=A) == pytest.approx(getattr(metric, AIF360_NAMES[name])(), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(labelled_groups(), st.sampled_from(sorted(MEASURES)), st.floats(0.001, 0.999))
def test_phi_is_zero_exactly_when_the_tolerance_is_broken(data, metric, epsilon):
    y, pred, A = data
    bias = MEASURES[metric](y, pred, sensitive=A)
    phi = phi_score(y, pred, sensitive=A, bias_metric=metric, epsilon=epsilon)
    if abs(bias) >= epsilon:
        assert phi == 0.0
    else:
        assert phi == pytest.approx(balanced_accuracy_score(y, pred))


@settings(max_examples=30, deadline=None)
@given(labelled_groups(min_size=20, max_size=120), st.integers(0, 2**31 - 1), st.sampled_from(sorted(MEASURES)))
def test_every_candidate_threshold_is_scored_as_phi_scores_its_predictions(data, seed, metric):
    y, _, A = data
    proba = np.random.default_rng(seed).random(len(y))
    objective = FairnessObjective(bias_metric=metric, epsilon=0.1, confidence=None)
    phi = objective.certified_phi(objective.evaluate(y, proba, A))
    expected = [phi_score(y, (proba > t).astype(int), sensitive=A, bias_metric=metric, epsilon=0.1)
                for t in candidate_thresholds(proba)]
    np.testing.assert_allclose(phi, expected, atol=1e-12)
