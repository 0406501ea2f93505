"""Cell counts of decision rules: sorting-based counts equal counting row by row."""

import numpy as np
import pytest

from skfairmask.threshold import (
    CONSTANT_THRESHOLDS,
    candidate_thresholds,
    is_constant,
    prediction_counts,
    resample_weights,
    threshold_counts,
)


def _rows(seed, n=300, n_groups=2):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, n_groups, n)
    y = (rng.random(n) < 0.4).astype(int)
    scores = rng.random((3, n))
    return scores, y, groups


def _direct(scores, thresholds, y, groups, n_groups, weights=None):
    """Counts row by row: for each rule, each (group, label) cell's favourable predictions."""
    weights = np.ones((1, len(y))) if weights is None else weights
    out = np.zeros((len(weights),) + thresholds.shape + (n_groups, 2))
    for b, w in enumerate(weights):
        for j, (row, ts) in enumerate(zip(scores, thresholds)):
            for k, t in enumerate(ts):
                for g in range(n_groups):
                    for label in (0, 1):
                        cell = (groups == g) & (y == label)
                        out[b, j, k, g, label] = (w * cell * (row > t)).sum()
    return out


@pytest.mark.parametrize("n_groups", [2, 3])
def test_threshold_counts_equal_counting_row_by_row(n_groups):
    scores, y, groups = _rows(0, n_groups=n_groups)
    thresholds = np.stack([candidate_thresholds(s, 20) for s in scores])
    counts = threshold_counts(scores, thresholds, y, groups, n_groups)
    np.testing.assert_allclose(counts.positive, _direct(scores, thresholds, y, groups, n_groups)[0])
    np.testing.assert_allclose(counts.total.reshape(n_groups, 2),
                               np.bincount(groups * 2 + y, minlength=2 * n_groups).reshape(n_groups, 2))


def test_resampled_counts_equal_counting_each_resample():
    scores, y, groups = _rows(1, n=80)
    thresholds = np.stack([candidate_thresholds(s, 10) for s in scores])
    weights = resample_weights(len(y), 4, random_state=0)
    counts = threshold_counts(scores, thresholds, y, groups, 2, weights)
    np.testing.assert_allclose(counts.positive, _direct(scores, thresholds, y, groups, 2, weights))
    # Each resample draws exactly n rows.
    np.testing.assert_allclose(weights.sum(1), len(y))


def test_prediction_counts_equal_counting_each_rule():
    _, y, groups = _rows(2)
    predictions = (np.random.default_rng(0).random((5, len(y))) < 0.5).astype(float)
    counts = prediction_counts(predictions, y, groups, 2)
    for rule, positive in zip(predictions, counts.positive):
        for g in (0, 1):
            for label in (0, 1):
                assert positive[g, label] == rule[(groups == g) & (y == label)].sum()


def test_the_constant_thresholds_predict_one_class_on_any_scores():
    proba = np.random.default_rng(3).random(50)
    thresholds = candidate_thresholds(proba)
    assert thresholds[0] == CONSTANT_THRESHOLDS[0] and thresholds[-1] == CONSTANT_THRESHOLDS[1]
    assert is_constant(thresholds).sum() == 2
    for extreme in (np.zeros(5), np.ones(5)):
        assert (extreme > thresholds[0]).all() and not (extreme > thresholds[-1]).any()
