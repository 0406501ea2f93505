"""Quantile rules: their laws hold on a population with known rates, and the strategy hands back the rule."""

import warnings

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import balanced_accuracy_score, roc_curve

from skfairmask import FairMaskDebiaser
from skfairmask.metrics import equal_opportunity_difference, statistical_parity_difference
from skfairmask.quantiles import (
    SAMPLE_FAIR_SHARE,
    TRUE_POSITIVE_RATES,
    allowed_ties,
    balanced_accuracy_bounds,
    certified_gap,
    choose_rate,
    leaves_rows_each_side,
    predict,
    quantile_rule,
    rate_gap_tail,
    rate_tail,
    sample_fair_chance,
)

#: A population: group 0 is 30% of rows; labels and scores depend on the group. Scores are rounded
#: to a grid, so that rows tie as they do where features repeat.
GROUP_SHARE, POSITIVE_SHARE = 0.3, (0.3, 0.5)
MEANS = {(0, 0): -0.5, (0, 1): 0.7, (1, 0): 0.0, (1, 1): 1.2}
GRID = 0.005


def _sample(rng, n):
    groups = (rng.random(n) > GROUP_SHARE).astype(int)
    y = (rng.random(n) < np.where(groups == 1, POSITIVE_SHARE[1], POSITIVE_SHARE[0])).astype(int)
    mean = np.array([MEANS[(g, label)] for g, label in zip(groups, y)])
    return np.round((mean + rng.normal(size=n)) / GRID) * GRID, y, groups


def _above(threshold, group, label):
    """The population's share of a (group, label) cell scored above ``threshold``."""
    first = np.floor(threshold / GRID + 1e-9) * GRID + GRID  # the lowest grid value above the threshold
    return norm.sf(first - GRID / 2 - MEANS[(group, label)])


def _true(rule):
    """The population's SPD and balanced accuracy of a quantile rule."""
    rate = [sum(share * _above(rule.thresholds[g], g, label)
                for label, share in ((1, POSITIVE_SHARE[g]), (0, 1 - POSITIVE_SHARE[g]))) for g in (0, 1)]
    share = (GROUP_SHARE, 1 - GROUP_SHARE)
    weight = {label: np.array([share[g] * (POSITIVE_SHARE[g] if label else 1 - POSITIVE_SHARE[g]) for g in (0, 1)])
              for label in (0, 1)}
    tpr = sum(weight[1][g] * _above(rule.thresholds[g], g, 1) for g in (0, 1)) / weight[1].sum()
    tnr = sum(weight[0][g] * (1 - _above(rule.thresholds[g], g, 0)) for g in (0, 1)) / weight[0].sum()
    return rate[0] - rate[1], 0.5 * (tpr + tnr)


def test_the_rate_gap_law_covers_the_true_bias_as_stated_and_half_of_it_does_not():
    # The rule's thresholds are set on the very rows whose counts bound its bias. Over 300 samples the
    # certified gap misses the population SPD no more often than delta allows; half the gap misses far
    # more often, so the check can fail.
    rng, delta = np.random.default_rng(3), 0.2
    misses = half_misses = ties = 0
    for _ in range(300):
        scores, _, groups = _sample(rng, 600)
        rule = quantile_rule(scores, groups, 0.5)
        if rule.tied:
            ties += 1
            continue
        gap, (spd, _) = certified_gap(rule.counts, delta), _true(rule)
        misses += abs(spd) >= gap
        half_misses += abs(spd) >= gap / 2
    kept = 300 - ties
    assert ties < 30, "ties beyond the allowance are rare on a fine grid"
    assert misses / kept <= delta + 2 * np.sqrt(delta * (1 - delta) / kept)
    assert half_misses / kept > delta


def test_the_rate_gap_law_holds_at_the_labels_share_as_at_a_fixed_rate():
    # The base-rate route takes the rate from the labels, whose share moves with the scores (here a label
    # moves a row's score by more than a standard deviation), before it sets the thresholds on the same
    # rows. Over 300 samples the certified gap still misses the population SPD no more often than delta
    # allows, and half of it misses more often, so the check can fail.
    rng, delta = np.random.default_rng(6), 0.2
    misses = half_misses = kept = 0
    for _ in range(300):
        scores, y, groups = _sample(rng, 600)
        rule = quantile_rule(scores, groups, y.mean())
        if rule.tied:
            continue
        gap, (spd, _) = certified_gap(rule.counts, delta), _true(rule)
        kept += 1
        misses += abs(spd) >= gap
        half_misses += abs(spd) >= gap / 2
    assert kept > 270
    assert misses / kept <= delta + 2 * np.sqrt(delta * (1 - delta) / kept)
    assert half_misses / kept > delta


def _true_positive_gap(rule):
    """The population's EOD of a rule: group 0's true positive rate less group 1's."""
    return _above(rule.thresholds[0], 0, 1) - _above(rule.thresholds[1], 1, 1)


def _network_rate(scores, y):
    """The true positive rate where the scores' balanced accuracy is highest, as the EOD route reads it."""
    false_positive_rates, true_positive_rates, _ = roc_curve(y, scores)
    return true_positive_rates[np.argmax(true_positive_rates - false_positive_rates)]


def test_the_law_bounds_eod_among_the_favourable_rows_at_the_networks_own_rate():
    # The thresholds sit among each group's favourable-labelled rows, at the true positive rate where the
    # scores' balanced accuracy on the same rows is highest. Over 300 samples the certified gap, from the
    # favourable rows' counts, misses the population EOD no more often than delta allows; half of it
    # misses more often, so the check can fail.
    rng, delta = np.random.default_rng(8), 0.2
    misses = half_misses = kept = 0
    for _ in range(300):
        scores, y, groups = _sample(rng, 1200)
        rule = quantile_rule(scores, groups, round(_network_rate(scores, y), 2), y=y)
        if rule.tied:
            continue
        favourable_rows = tuple(int(((groups == g) & (y == 1)).sum()) for g in (0, 1))
        assert rule.favourable_only and rule.sizes == favourable_rows
        gap = certified_gap(rule.counts, delta)
        kept += 1
        misses += abs(_true_positive_gap(rule)) >= gap
        half_misses += abs(_true_positive_gap(rule)) >= gap / 2
    assert kept > 270
    assert misses / kept <= delta + 2 * np.sqrt(delta * (1 - delta) / kept)
    assert half_misses / kept > delta


def test_the_gap_tail_falls_with_the_gap_and_the_rows():
    counts = ((150, 300), (350, 700))
    assert rate_gap_tail(counts, 0.02) > rate_gap_tail(counts, 0.06) > rate_gap_tail(counts, 0.12)
    assert rate_gap_tail(((300, 600), (700, 1400)), 0.06) < rate_gap_tail(counts, 0.06)
    gap = certified_gap(counts, 0.2)
    assert rate_gap_tail(counts, gap) <= 0.2 < rate_gap_tail(counts, gap - 0.002)


@pytest.mark.parametrize("rate, among_favourable, seed", [(0.4, False, 4), (0.8, True, 9)])
def test_balanced_accuracy_bounds_cover_the_true_value_as_stated_and_beat_a_constant(rate, among_favourable,
                                                                                      seed):
    # A rule placed among every row, and one placed among the favourable-labelled rows (EOD's route).
    rng, delta = np.random.default_rng(seed), 0.2
    below = above = better = n = 0
    for _ in range(200):
        scores, y, groups = _sample(rng, 800)
        rule = quantile_rule(scores, groups, rate, y=y if among_favourable else None)
        if rule.tied:
            continue
        lower, upper = balanced_accuracy_bounds(rule, scores, y, groups, delta)
        _, truth = _true(rule)
        n += 1
        below += truth < lower
        above += truth > upper
        better += lower > 0.5
    for misses in (below, above):
        assert misses / n <= delta + 2 * np.sqrt(delta * (1 - delta) / n)
    assert better / n > 0.9, "the bounds are narrow enough to tell this rule from a constant"


def test_ties_beyond_the_allowance_are_flagged_and_within_it_the_whole_tie_is_favourable():
    groups = np.array([0] * 10 + [1] * 10)
    scores = np.concatenate([np.arange(10.0)[::-1], np.arange(10.0)[::-1]])
    scores[[14, 15]] = scores[14]  # group 1: its 5th and 6th highest scores are equal
    rule = quantile_rule(scores, groups, 0.5)
    assert not rule.tied and allowed_ties(10) == 1
    favourable = predict(rule, scores, groups)
    assert favourable[groups == 1].sum() == 6 and favourable[groups == 0].sum() == 5
    scores[[14, 15, 16]] = scores[14]  # two rows beyond rank 5 share its score
    assert quantile_rule(scores, groups, 0.5).tied
    assert allowed_ties(4999) == 4


def test_the_rate_is_chosen_among_those_the_counts_certify():
    rng = np.random.default_rng(5)
    scores, y, groups = _sample(rng, 400)
    rate, n_eligible = choose_rate(scores, y, groups, (600, 1400), epsilon=0.05, delta=0.2)
    assert rate is not None and 0 < n_eligible
    counts = tuple((round(rate * n), n) for n in (600, 1400))
    assert rate_gap_tail(counts, 0.05) <= 0.2 and rate_tail(rate, (600, 1400), 0.05) == rate_gap_tail(counts, 0.05)
    assert choose_rate(scores, y, groups, (30, 70), epsilon=0.05, delta=0.2) == (None, 0)


def test_the_quantile_strategy_hands_back_the_certified_rule(biased_data, base_net):
    X, y, A = biased_data[1]  # the last column of X is A
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy="quantile", epsilon=0.1, random_state=0)
        deb.fit(X, y, sensitive=A)
    certificate = deb.certificate_
    assert certificate["rows"] == "quantiles" and deb.strategy_ == "quantile"
    assert "quantile" in certificate["certified_on"]
    assert certificate["fair"] and certificate["certified_epsilon"] < 0.1
    assert certificate["bias_interval"] == pytest.approx([-deb.certified_epsilon_, deb.certified_epsilon_])
    # Both groups get the same share of favourable predictions on the certifying rows (training and
    # safety rows, 79% of these): on every row the model is within the selection rows' noise of that,
    # and as accurate as the certificate says.
    predictions = deb.predict(X)
    assert abs(certificate["bias"]) < 0.01
    assert abs(statistical_parity_difference(y, predictions, sensitive=A)) < 0.05
    assert certificate["ba_interval"][0] < certificate["balanced_accuracy"] < certificate["ba_interval"][1]
    accuracy = balanced_accuracy_score(y, predictions)
    assert accuracy == pytest.approx(certificate["balanced_accuracy"], abs=0.03)


@pytest.mark.parametrize("strategy", ["auto", "offset"])
def test_the_offset_certifies_near_the_base_rate_where_the_band_is_too_wide(biased_data, base_net, strategy):
    # On these 800 rows the uniform band is about 0.12 wide for SPD, too wide for epsilon = 0.1, while the
    # counts alone certify a quantile rule near the share of favourable labels (0.54): at it, a new sample
    # of 800 rows would be fair with chance 0.944, under SAMPLE_FAIR_SHARE, so the rate moves away from 1/2.
    X, y, A = biased_data[1]
    deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy=strategy, epsilon=0.1, random_state=0)
    deb.fit(X, y, sensitive=A)
    certificate = deb.certificate_
    assert certificate["rows"] == "base_rate" and certificate["n_rows"] == len(y)
    assert "base rate" in certificate["certified_on"]
    assert deb.tolerance_met_ and deb.certified_epsilon_ < 0.1
    # Each group is predicted favourable for the same share of its rows, to a row: the nearest rate to the
    # labels' share whose counts pass both tests, and the certificate says what the model does on them.
    predictions = deb.predict(X)
    sizes = [int((A == group).sum()) for group in (0, 1)]
    shares = [predictions[A == group].mean() for group in (0, 1)]
    assert abs(shares[0] - shares[1]) <= 1 / min(sizes) + 1e-12
    rate = round(shares[1], 2)
    assert sample_fair_chance(rate, sizes, 0.1) >= SAMPLE_FAIR_SHARE > sample_fair_chance(rate - 0.01, sizes, 0.1)
    assert y.mean() < rate
    assert balanced_accuracy_score(y, predictions) == pytest.approx(certificate["balanced_accuracy"])
    assert 0.5 < certificate["ba_interval"][0] < certificate["balanced_accuracy"]


def test_a_new_samples_fair_chance_falls_towards_one_half_and_rises_with_rows():
    sizes = (300, 700)
    assert sample_fair_chance(0.5, sizes, 0.05) < sample_fair_chance(0.7, sizes, 0.05) < sample_fair_chance(
        0.9, sizes, 0.05)
    assert sample_fair_chance(0.3, sizes, 0.05) == pytest.approx(sample_fair_chance(0.7, sizes, 0.05))
    assert sample_fair_chance(0.5, (600, 1400), 0.05) > sample_fair_chance(0.5, sizes, 0.05)
    # Two independent errors of variance r (1 - r) (1/n0 + 1/n1) each.
    spread = np.sqrt(2 * 0.25 * (1 / 300 + 1 / 700))
    assert sample_fair_chance(0.5, sizes, 0.05) == pytest.approx(2 * norm.cdf(0.05 / spread) - 1)


def test_the_offset_certifies_eod_at_one_true_positive_rate_near_the_networks(biased_data, base_net):
    # For EOD the route gives each group's favourable-labelled rows one true positive rate: the network's
    # own at its best balanced accuracy, or the nearest rate above it that the counts of favourable labels
    # pass at, as for SPD. Here the network's rate is 0.82 to 0.84 (its trained weights differ a little from
    # one processor to another); with 79 and 352 favourable rows a new sample would be fair with chance 0.944
    # at 0.85, under SAMPLE_FAIR_SHARE, so the rate moves to 0.86 (at epsilon = 0.1 it would have to pass
    # 0.87, where fewer than ten of group 0's rows stay below).
    X, y, A = biased_data[1]
    deb = FairMaskDebiaser(FrozenEstimator(base_net), bias_metric="eod", epsilon=0.12, random_state=0)
    deb.fit(X, y, sensitive=A)
    certificate = deb.certificate_
    assert certificate["rows"] == "true_positive_rate" and certificate["n_rows"] == len(y)
    assert "true positive rate" in certificate["certified_on"]
    assert deb.tolerance_met_ and deb.certified_epsilon_ < 0.12
    predictions = deb.predict(X)
    positives = [int(((A == group) & (y == 1)).sum()) for group in (0, 1)]
    rates = [predictions[(A == group) & (y == 1)].mean() for group in (0, 1)]
    assert abs(rates[0] - rates[1]) <= 1 / min(positives) + 1e-12
    assert equal_opportunity_difference(y, predictions, sensitive=A) == pytest.approx(certificate["bias"])
    rate = round(rates[1], 2)
    assert rate in TRUE_POSITIVE_RATES
    network_rate = _network_rate(base_net.predict_proba(X)[:, 1], y)
    # The network's own rate fails the new-sample test here, so the rate moved up from it, just as far as
    # the counts require: the rate kept passes, and every rate nearer the network's fails.
    nearer = [r for r in TRUE_POSITIVE_RATES if abs(r - network_rate) < abs(rate - network_rate)]
    assert rate > network_rate + 0.01 and round(network_rate, 2) in nearer
    assert sample_fair_chance(rate, positives, 0.12) >= SAMPLE_FAIR_SHARE
    assert all(sample_fair_chance(r, positives, 0.12) < SAMPLE_FAIR_SHARE for r in nearer)
    assert balanced_accuracy_score(y, predictions) == pytest.approx(certificate["balanced_accuracy"])
    lower, upper = certificate["ba_interval"]
    assert 0.5 < lower < certificate["balanced_accuracy"] < upper


def test_a_routes_rule_leaves_ten_rows_on_each_side_of_each_threshold():
    # COMPAS sex's 152 women with a favourable label: 0.93 leaves 11 of them below the threshold, 0.97 five.
    assert leaves_rows_each_side(0.93, 152) and not leaves_rows_each_side(0.97, 152)
    assert leaves_rows_each_side(0.10, 100) and not leaves_rows_each_side(0.05, 100)
    # Where the laws hold the rank back (at most n - 1 - m), the rule is not at the rate asked for.
    assert not leaves_rows_each_side(0.999, 20_000)


@pytest.mark.parametrize("bias_metric, change", [
    ("spd", {"epsilon": 0.05}), ("spd", {"threshold": 0.5}), ("spd", "drop the column"),
    ("eod", {"epsilon": 0.03}), ("eod", {"threshold": 0.5}), ("eod", "drop the column"), ("aod", {}),
])
def test_the_routes_at_one_rate_are_taken_only_where_they_hold(biased_data, base_net, bias_metric, change):
    # Too few rows for that epsilon at the rate; a fixed threshold; the attribute's column gone (g then
    # reads proxies, not the groups); a measure neither route bounds. Unchanged, each route is taken at
    # these epsilons (the two tests above).
    X, y, A = biased_data[1]
    epsilon = {"spd": 0.1, "eod": 0.12}.get(bias_metric, 0.1)
    params = {"strategy": "offset", "bias_metric": bias_metric, "epsilon": epsilon, "random_state": 0}
    if change == "drop the column":
        X = X.copy()
        X[:, -1] = 0.0
    else:
        params.update(change)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        deb = FairMaskDebiaser(FrozenEstimator(base_net), **params).fit(X, y, sensitive=A)
    assert deb.certificate_["rows"] not in ("base_rate", "true_positive_rate")


@pytest.mark.parametrize("change, message", [
    ({"bias_metric": "eod"}, "bias_metric='spd'"),
    ({"threshold": 0.5}, "threshold='tune'"),
    ("drop the column", "column of X"),
])
def test_the_quantile_strategy_says_what_it_needs(biased_data, base_net, change, message):
    X, y, A = biased_data[1]
    params = {"strategy": "quantile", "random_state": 0}
    estimator = FrozenEstimator(base_net)
    if change == "drop the column":
        X = X.copy()
        X[:, -1] = 0.0  # the attribute is no longer a column of X
    else:
        params.update(change)
    with pytest.raises(ValueError, match=message):
        FairMaskDebiaser(estimator, **params).fit(X, y, sensitive=A)


def test_the_quantile_strategy_says_when_too_few_rows_send_it_to_the_offsets_routes(biased_data, base_net):
    X, y, A = (a[:150] for a in biased_data[1])  # too few rows to certify any rate at epsilon 0.05
    # What the route does, not what a fit that certifies nothing hands back instead (the fallback's own warning).
    deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy="quantile", fallback="surest", random_state=0)
    with pytest.warns(UserWarning, match="could not certify any rate from 0.1 to 0.9"):
        deb.fit(X, y, sensitive=A)
    assert deb.certificate_["rows"] != "quantiles" and deb.strategy_ == "quantile"


def test_the_quantile_strategy_returns_a_constant_and_says_why_where_ties_exceed_it(biased_data, base_net):
    X, y, A = (np.concatenate([a] * 5) for a in biased_data[1])  # every score repeated five times
    deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy="quantile", fallback="surest", random_state=0)
    with pytest.warns(UserWarning, match="share a group's score"):
        deb.fit(X, y, sensitive=A)
    assert deb.certificate_["rows"] == "quantiles" and deb.certificate_["constant"] and not deb.tolerance_met_
    assert len(np.unique(deb.predict(X))) == 1
