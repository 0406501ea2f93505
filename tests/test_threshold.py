import numpy as np
import pytest

from skfairmask.metrics import phi_score, statistical_parity_difference
from skfairmask.threshold import candidate_thresholds, tune_threshold


def _biased_scores(seed, n=600):
    rng = np.random.default_rng(seed)
    A = (rng.random(n) < 0.5).astype(int)
    y = (rng.random(n) < 0.3 + 0.3 * A).astype(int)
    proba = np.clip(0.25 * y + 0.2 * A + rng.random(n) * 0.55, 0, 1)
    return y, proba, A


@pytest.mark.parametrize("seed", range(3))
def test_returns_the_best_threshold_of_its_grid(seed):
    y, proba, A = _biased_scores(seed)
    choice = tune_threshold(y, proba, A, epsilon=0.05, margin=0.01, n_bootstrap=0)
    best = max(
        phi_score(y, (proba > t).astype(int), sensitive=A, epsilon=0.04)
        for t in candidate_thresholds(proba)
    )
    assert choice.tolerance_met
    assert choice.phi == pytest.approx(best)
    pred = (proba > choice.threshold).astype(int)
    assert abs(statistical_parity_difference(y, pred, sensitive=A)) < 0.04


def test_reports_unmet_tolerance_when_only_a_constant_prediction_is_fair():
    y = np.array([0, 1] * 50)
    A = np.array([0] * 50 + [1] * 50)
    proba = np.where(A == 1, 0.9, 0.1)  # scores that only tell the groups apart
    choice = tune_threshold(y, proba, A, epsilon=0.05, margin=0.01, n_bootstrap=0)
    assert not choice.tolerance_met
    # everyone predicted the same way: unbiased, and no better than chance
    assert choice.phi == pytest.approx(0.5)
    assert choice.bias == pytest.approx(0.0)


def test_bootstrap_is_reproducible():
    y, proba, A = _biased_scores(0)
    a = tune_threshold(y, proba, A, n_bootstrap=5, random_state=3)
    b = tune_threshold(y, proba, A, n_bootstrap=5, random_state=3)
    assert a == b


def _population_sample(rng, n):
    """Scores of a model that is unfair at most thresholds, drawn afresh from one population."""
    A = (rng.random(n) < 0.3).astype(int)
    y = (rng.random(n) < 0.3 + 0.2 * A).astype(int)
    proba = np.clip(0.3 * y + 0.1 * A + rng.random(n) * 0.6, 0, 1)
    return y, proba, A


def test_more_resamples_keep_a_small_holdouts_choice_fair_on_new_data():
    # A 300-row holdout is noisy: a threshold fair on it may not be fair on the population.
    fair = {}
    for n_bootstrap in (0, 50):
        rng = np.random.default_rng(0)
        fair[n_bootstrap] = 0
        for _ in range(20):
            holdout, population = _population_sample(rng, 300), _population_sample(rng, 5000)
            choice = tune_threshold(*holdout, n_bootstrap=n_bootstrap, random_state=0)
            y, proba, A = population
            pred = (proba > choice.threshold).astype(int)
            fair[n_bootstrap] += abs(statistical_parity_difference(y, pred, sensitive=A)) < 0.05
    assert fair[50] > fair[0]
    assert fair[50] >= 18


def test_scoring_thresholds_in_blocks_changes_nothing(monkeypatch):
    y, proba, A = _biased_scores(1)
    whole = tune_threshold(y, proba, A, bias_metric="aod", n_bootstrap=5, random_state=0)
    # Blocks of 3 thresholds (3 x 5 resamples x 600 rows), against one block of all 200.
    monkeypatch.setattr("skfairmask.threshold.BLOCK_ENTRIES", 3 * 5 * 600)
    assert tune_threshold(y, proba, A, bias_metric="aod", n_bootstrap=5, random_state=0) == whole
