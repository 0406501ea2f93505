"""Quantile rules: one threshold per group, at one quantile of each group's scores on the rows that certify.

A rule chosen on some rows and certified on others carries the choice rows'
noise into its true bias, and only rules whose bias landed near 0 pass. A
quantile rule moves that noise somewhere it can be counted. Each group's
threshold is placed between its ``j``-th highest score among its ``n``
certifying rows and the next lower one, and then the share of the group's population above the
threshold lies between the ``j``-th and the ``(j + 1)``-th smallest of ``n``
uniform draws, Beta(j, n − j + 1) and Beta(j + 1, n − j), whatever the
score's distribution. Where rows share the ``j``-th score (the same
features give the same score), the threshold goes under all of them; the
rate then lies below the ``(j + m + 1)``-th uniform as long as at most
``m`` of them sit beyond rank ``j``, with ``m`` fixed by the group's row
count before any score is read (:func:`allowed_ties`); beyond that, the rule
is not certified. With the same rate ``j / n`` in both groups, the rule's
statistical parity difference has a law known from the row counts alone
(:func:`rate_gap_tail`). The ``quantile`` strategy chooses the rate on other
rows (:func:`choose_rate`); the default's route near the base rate
(:func:`~skfairmask.selection.base_rate_selection`) reads only the counts and
the labels' share (:func:`rate_tail`, :func:`sample_fair_chance`).

The same laws hold among one label's rows. Placed among each group's
favourable-labelled rows alone, the thresholds give both groups the same
true positive rate ``j / n`` on those rows, and the population's true
positive rates have the laws above with ``n`` the group's favourable rows:
the rule's equal opportunity difference is then bounded from the counts
(:func:`~skfairmask.selection.true_positive_rate_selection`).

Balanced accuracy needs the labels too. Order each group's rows by score,
ties broken at random; given the ``j``-th and the ``(j + m + 1)``-th, the
rows above the first are independent draws from the group's population
above it, and those below the second from the population below it, so the
share of favourable labels on each side has an exact binomial interval
(:func:`balanced_accuracy_bounds`).

The certifying rows are drawn stratified by (group, label), which makes each
group's empirical distribution closer to its population's than independent
draws would: the laws above then hold with room to spare, as the uniform
band's do (``docs/method.md`` §6).
"""

from dataclasses import dataclass
from itertools import product

import numpy as np
from scipy import optimize, stats
from sklearn.metrics import balanced_accuracy_score

from ._bounds import combine_intervals, exact_interval

__all__ = ["LABEL_SHARE", "QUANTILE_RATES", "ROWS_EACH_SIDE", "ROWS_PER_TIE", "SAMPLE_FAIR_SHARE",
           "TIES_ALLOWED", "TRUE_POSITIVE_RATES", "QuantileRule", "allowed_ties", "balanced_accuracy_bounds",
           "certified_gap", "choose_rate", "leaves_rows_each_side", "predict", "quantile_rule",
           "rate_gap_tail", "rate_tail", "sample_fair_chance"]

#: The rates a quantile rule may take: each group's share predicted favourable. A tenth at least of
#: each group gets each class, so the route never hands back a rule that is nearly constant; those
#: are the ladder's to certify.
QUANTILE_RATES = tuple(np.round(np.arange(0.10, 0.9001, 0.01), 2))

#: The true positive rates a quantile rule placed among the favourable-labelled rows may take. Below one
#: half the rule would refuse most of those who qualify; the upper end refuses one in a hundred of them at
#: least. The rows of the other label get what their scores give, and the rule's balanced accuracy bound
#: (:func:`balanced_accuracy_bounds`) says whether that beats a constant prediction.
TRUE_POSITIVE_RATES = tuple(np.round(np.arange(0.50, 0.9901, 0.01), 2))

#: The chance of a fair verdict on a new sample as large as the rows (:func:`sample_fair_chance`) that the
#: default's quantile rule must have: the share of runs fair on test that the default confidence was chosen
#: to keep (docs/method.md §6). Near one half a rule spreads too much for that on COMPAS's 1,234 rows: in
#: benchmarks/results/frontier.md the rules at rates 0.5 and 0.6 are fair on test in 81% and 84% of draws.
SAMPLE_FAIR_SHARE = 0.95

#: The fewest rows of a group that a route's quantile rule leaves on each side of its threshold
#: (:func:`leaves_rows_each_side`). The laws hold at any count, but :func:`sample_fair_chance` reads the
#: rates as normal, and a binomial count is near normal only with some ten rows on each side. With fewer,
#: the chance is read too high: at commit 7d2afa3, COMPAS sex EOD's rule at a true positive rate of 0.97
#: (five of its women's 152 favourable rows below the threshold) was fair on test in 91% of
#: benchmarks/results/frontier.md's 100 draws, where the chance read 0.95 or more.
ROWS_EACH_SIDE = 10

#: The share of each balanced-accuracy bound's error that goes to the labels' shares above and below
#: the thresholds, whose interval sets its width; the rest goes to six narrow ones
#: (:func:`balanced_accuracy_bounds`).
LABEL_SHARE = 0.75

#: Rows that may share the ``j``-th score beyond rank ``j`` with the rule still certified: at least
#: ``TIES_ALLOWED``, and one per ``ROWS_PER_TIE`` rows of the group (:func:`allowed_ties`). Each widens
#: the laws by one row of the group: a thousandth of it at most, beyond the first. Repeated rows make
#: ties at every size of data, and more of them on more rows; a tie beyond the allowance costs the fit
#: its rule (it returns a constant prediction), while each row allowed costs every fit some width.
TIES_ALLOWED, ROWS_PER_TIE = 1, 1000

#: Bin edges of the numerical convolution in :func:`rate_gap_tail`. It rounds the tail up, never down.
_EDGES = np.linspace(0.0, 1.0, 2001)


@dataclass(frozen=True)
class QuantileRule:
    """One threshold per group of two, each at rank ``j`` of the group's ``n`` scores.

    Attributes
    ----------
    thresholds : ndarray of shape (2,)
        Each group's threshold, halfway between its ``j``-th highest score and the next lower one.
    ranks, sizes : tuple of int
        ``j`` and ``n`` per group.
    tied : bool
        Whether more than :func:`allowed_ties` rows of a group share its ``j``-th highest score
        beyond rank ``j``, which the laws of this module do not cover.
    favourable_only : bool
        Whether the ranks count each group's favourable-labelled rows alone: the rate is then
        each group's true positive rate.
    """

    thresholds: np.ndarray
    ranks: tuple
    sizes: tuple
    tied: bool
    favourable_only: bool = False

    @property
    def counts(self):
        """``((j0, n0), (j1, n1))``, what :func:`rate_gap_tail` reads."""
        return tuple(zip(self.ranks, self.sizes))


def quantile_rule(scores, groups, rate, y=None):
    """The quantile rule at ``rate`` on these rows: favourable above each group's threshold.

    Parameters
    ----------
    scores : ndarray of shape (n,)
    groups : ndarray of shape (n,)
        Two groups coded 0/1, each with at least two rows (of the favourable label, with ``y``).
    rate : float
        The share of each group predicted favourable; the rank is rounded
        and kept within 1 … n − 1 − :func:`allowed_ties`.
    y : ndarray of shape (n,), optional
        Labels coded 0/1. Where given, each group's threshold is placed among
        its favourable-labelled rows alone, and ``rate`` is its true positive rate.

    Returns
    -------
    QuantileRule
    """
    placing = np.ones(len(scores), dtype=bool) if y is None else np.asarray(y) == 1
    thresholds, ranks, sizes, tied = [], [], [], False
    for group in (0, 1):
        ordered = np.sort(scores[placing & (groups == group)])[::-1]
        n = len(ordered)
        j = _rank(rate, n)
        lower = ordered[j:][ordered[j:] < ordered[j - 1]]
        tied |= n - j - len(lower) > allowed_ties(n)
        thresholds.append((ordered[j - 1] + lower[0]) / 2 if len(lower) else -np.inf)
        ranks.append(j)
        sizes.append(n)
    return QuantileRule(np.array(thresholds), tuple(ranks), tuple(sizes), tied, favourable_only=y is not None)


def allowed_ties(n):
    """How many rows of a group of ``n`` may share its ``j``-th score beyond rank ``j``: ``m``."""
    return max(TIES_ALLOWED, n // ROWS_PER_TIE)


def leaves_rows_each_side(rate, n):
    """Whether the rule at ``rate`` leaves :data:`ROWS_EACH_SIDE` of ``n`` rows on each side of a threshold.

    It also says that the rank is ``round(rate · n)``, not one that
    :func:`_rank` held back where both laws exist.
    """
    j = _rank(rate, n)
    return j == round(rate * n) and min(j, n - j) >= ROWS_EACH_SIDE


def _rank(rate, n):
    """The rank ``j`` of a rate among ``n`` scores: rounded, within 1 … n − 1 − m so that both laws exist."""
    return int(min(n - 1 - allowed_ties(n), max(1, round(rate * n))))


def predict(rule, scores, groups):
    """Favourable (True) where a row's score is above its group's threshold."""
    return scores > rule.thresholds[np.asarray(groups, dtype=int)]


def rate_gap_tail(counts, gap):
    """An upper bound on the chance that a quantile rule's two group rates differ by ``gap`` or more.

    Parameters
    ----------
    counts : ((int, int), (int, int))
        ``(j, n)`` per group (:attr:`QuantileRule.counts`).
    gap : float

    Returns
    -------
    float
        ``P(p0 − p1 ≥ gap) + P(p1 − p0 ≥ gap)``, each side read with the
        higher rate at its largest law and the lower at its smallest (both
        are independent: the groups' rows are disjoint).
    """
    return _one_side(counts[0], counts[1], gap) + _one_side(counts[1], counts[0], gap)


def _one_side(high, low, gap):
    """``P(p_high − p_low ≥ gap)``.

    ``p_high`` is at most Beta(j + m + 1, n − j − m) and ``p_low`` at least Beta(j, n − j + 1).
    """
    (j_high, n_high), (j_low, n_low) = high, low
    mass = np.diff(stats.beta.cdf(_EDGES, j_low, n_low - j_low + 1))
    # Reading each bin of p_low at its lower edge can only raise the chance.
    above = j_high + allowed_ties(n_high) + 1
    return float(mass @ stats.beta.sf(_EDGES[:-1] + gap, above, n_high - above + 1))


def rate_tail(rate, sizes, gap):
    """:func:`rate_gap_tail` of the quantile rule at ``rate`` on groups of ``sizes`` rows: counts alone.

    Parameters
    ----------
    rate : float
    sizes : (int, int)
        Each group's rows.
    gap : float

    Returns
    -------
    float
    """
    return rate_gap_tail(tuple((_rank(rate, n), n) for n in sizes), gap)


def sample_fair_chance(rate, sizes, gap):
    """The chance that a new sample as large as these rows measures the quantile rule's gap under ``gap``.

    The gap is the two groups' rates' difference: ``|SPD|`` for a rule placed
    among every row, ``|EOD|`` for one placed among the favourable-labelled
    rows (``sizes`` then counts those). A normal reading of two errors of the
    same size: the rule's population rates spread around ``rate`` as its laws
    say, about ``rate (1 − rate) / n`` per group of ``n`` rows, and a new
    sample of each group's size spreads its estimate as much again. It reads
    the counts alone, and it is a prediction, not a bound: the certificate is
    :func:`rate_gap_tail`'s.

    Parameters
    ----------
    rate : float
    sizes : (int, int)
        Each group's rows (of the favourable label, for EOD).
    gap : float

    Returns
    -------
    float
    """
    spread = np.sqrt(2 * rate * (1 - rate) * sum(1 / n for n in sizes))
    return float(2 * stats.norm.cdf(gap / spread) - 1)


def certified_gap(counts, delta):
    """The smallest gap that a quantile rule's rates exceed with chance at most ``delta`` (rounded up).

    Parameters
    ----------
    counts : ((int, int), (int, int))
    delta : float

    Returns
    -------
    float
    """
    tolerance = 1e-5
    root = optimize.brentq(lambda gap: rate_gap_tail(counts, gap) - delta, 0.0, 1.0, xtol=tolerance)
    return float(root + tolerance)


def choose_rate(scores, y, groups, certifying_sizes, epsilon, delta):
    """The rate whose quantile rule is worth most in expected Φ, judged on rows that do not certify.

    A rate is eligible where the certifying rows' counts alone bound the
    rule's ``|bias|`` under ``epsilon`` with chance ``1 − delta``
    (:func:`rate_gap_tail`). Each eligible rate's rule is then built on
    these rows, and is worth its balanced accuracy on them times the chance,
    from the same law, that its bias is under ``epsilon``.

    Parameters
    ----------
    scores, y, groups : ndarray of shape (n,)
        The choice rows: score, label and group (0/1).
    certifying_sizes : (int, int)
        Each group's rows among the certifying rows.
    epsilon, delta : float

    Returns
    -------
    rate : float or None
        None where no rate of :data:`QUANTILE_RATES` is eligible.
    n_eligible : int
    """
    best, best_value, n_eligible = None, -np.inf, 0
    for rate in QUANTILE_RATES:
        tail = rate_tail(rate, certifying_sizes, epsilon)
        if tail > delta:
            continue
        n_eligible += 1
        accuracy = balanced_accuracy_score(y, predict(quantile_rule(scores, groups, rate), scores, groups))
        if accuracy * (1 - tail) > best_value:
            best, best_value = float(rate), accuracy * (1 - tail)
    return best, n_eligible


def balanced_accuracy_bounds(rule, scores, y, groups, delta):
    """Bounds on a quantile rule's balanced accuracy on the population, from the rows that built it.

    Balanced accuracy beats a constant prediction exactly when the share of
    favourable labels among the rows predicted favourable, ``Q+``, exceeds
    that among the others, ``Q−``; and ``BA − 1/2 = K (Q+ − Q−) / (2 M)``,
    with ``K`` and ``M`` the products of the favourable-prediction rate and
    the favourable-label rate with their complements. Given a group's
    ``j``-th and ``(j + m + 1)``-th highest scores (ties broken at random),
    its rows above the first and below the second are independent draws
    from the population above and below them, so each side's share of
    favourable labels has an exact interval; ``Q+ − Q−`` weighs the four
    shares by the groups' weights and is bounded by MOVER
    (:func:`~skfairmask._bounds.combine_intervals`) at :data:`LABEL_SHARE`
    of ``delta``. The rest of ``delta`` is shared by six narrow intervals:
    each group's rate (the order statistics' laws) and the population's mass
    between its two scores (``m + 1`` uniform spacings, at most
    Beta(m + 1, n − m)), whose labels are unknown; the groups' shares; the
    labels' share.

    A rule placed among the favourable-labelled rows alone has simpler
    bounds (:func:`_true_positive_rule_bounds`).

    Parameters
    ----------
    rule : QuantileRule
        Built on these rows (:func:`quantile_rule`).
    scores, y, groups : ndarray of shape (n,)
    delta : float

    Returns
    -------
    lower, upper : float
        Each misses with chance at most ``delta``.
    """
    if rule.favourable_only:
        return _true_positive_rule_bounds(rule, scores, y, groups, delta)
    label_error, other_error = LABEL_SHARE * delta, (1 - LABEL_SHARE) * delta / 6
    rates, shares_of_labels = [], []
    for group in (0, 1):
        # Ties are broken at random, by a draw that reads nothing of the rows.
        group_scores, group_labels = scores[groups == group], y[groups == group]
        shuffled = np.random.default_rng(0).permutation(len(group_scores))
        labels = group_labels[shuffled][np.argsort(-group_scores[shuffled], kind="stable")]
        j, n = rule.ranks[group], rule.sizes[group]
        m = allowed_ties(n)
        low = stats.beta.ppf(other_error / 2, j, n - j + 1)
        high = stats.beta.ppf(1 - other_error / 2, j + m + 1, n - j - m)
        spacing = stats.beta.ppf(1 - other_error, m + 1, n - m)
        above = exact_interval(labels[: j - 1].sum(), j - 1, label_error)
        below = exact_interval(labels[j + m + 1:].sum(), n - j - m - 1, label_error)
        # The rule's sets hold "above the j-th" and "below the (j+m+1)-th" and at most m + 1 spacings more,
        # whose labels may all be of one kind.
        shares_of_labels += [(above[0], *_diluted(above[1:], low, spacing)),
                             (below[0], *_diluted(below[1:], 1 - high, spacing))]
        rates.append((low, high))
    group_share, label_share = (exact_interval(count, len(y), other_error / 2)[1:]
                                for count in ((groups == 0).sum(), y.sum()))
    estimates, lowers, uppers = (np.array([share[k] for share in shares_of_labels], dtype=float)
                                 for k in range(3))
    differences = []
    for s, p0, p1 in product(group_share, *rates):
        fav, unfav = s * p0 / (s * p0 + (1 - s) * p1), s * (1 - p0) / (s * (1 - p0) + (1 - s) * (1 - p1))
        # Q+ − Q−, shares ordered (above, below) for group 0, then group 1.
        weights = [fav, -unfav, 1 - fav, unfav - 1]
        differences.append(combine_intervals(estimates, lowers, uppers, weights)[1:])
    fav_rates = _product_range([s * p0 + (1 - s) * p1 for s, p0, p1 in product(group_share, *rates)])
    label_rates = _product_range([float(v) for v in label_share])
    return (_half_plus(min(d[0] for d in differences), fav_rates, label_rates, side=-1),
            _half_plus(max(d[1] for d in differences), fav_rates, label_rates, side=1))


def _true_positive_rule_bounds(rule, scores, y, groups, delta):
    """:func:`balanced_accuracy_bounds` of a rule placed among the favourable-labelled rows.

    Balanced accuracy is the mean of the true positive and true negative
    rates, each a mixture of the groups' rates weighted by the groups' shares
    of that label. Each group's true positive rate has the order statistics'
    laws; its thresholds read no row of the other label, whose rows below
    them are a binomial count with an exact interval; and each label's share
    of group 0 has one too. The six intervals share ``delta``, and each bound
    is the mixture's least (greatest) value over them.
    """
    error = delta / 6
    positive_rates, negative_rates, shares = [], [], []
    for group in (0, 1):
        j, n = rule.ranks[group], rule.sizes[group]
        m = allowed_ties(n)
        positive_rates.append((stats.beta.ppf(error / 2, j, n - j + 1),
                               stats.beta.ppf(1 - error / 2, j + m + 1, n - j - m)))
        negatives = scores[(groups == group) & (y == 0)]
        refused = int((negatives <= rule.thresholds[group]).sum())
        negative_rates.append(exact_interval(refused, len(negatives), error / 2)[1:])
    for label in (1, 0):
        shares.append(exact_interval(int(((groups == 0) & (y == label)).sum()), int((y == label).sum()),
                                     error / 2)[1:])

    def mixture(rates, share_bounds, side):
        # Linear in group 0's share: its extremes sit at the share's bounds.
        return [share * rates[0][side] + (1 - share) * rates[1][side] for share in share_bounds]

    lower = (min(mixture(positive_rates, shares[0], 0)) + min(mixture(negative_rates, shares[1], 0))) / 2
    upper = (max(mixture(positive_rates, shares[0], 1)) + max(mixture(negative_rates, shares[1], 1))) / 2
    return float(lower), float(upper)


def _diluted(bounds, mass, extra):
    """Bounds on a share of favourable labels once up to ``extra`` mass of unknown labels joins ``mass``.

    Parameters
    ----------
    bounds : (float, float)
        The share's bounds on the rows of population mass at least ``mass``.
    mass, extra : float

    Returns
    -------
    lower, upper : float
    """
    lower, upper = bounds
    return float(lower * mass / (mass + extra)), float((upper * mass + extra) / (mass + extra))


def _product_range(values):
    """The range of ``x (1 − x)`` over ``x`` between the least and the greatest of ``values``."""
    low, high = min(values), max(values)
    ends = [low * (1 - low), high * (1 - high)]
    return min(ends), (0.25 if low <= 0.5 <= high else max(ends))


def _half_plus(difference, spread, label_spread, side):
    """``1/2 + K·difference / (2M)``, least (``side=-1``) or greatest (``side=1``) over K's and M's ranges."""
    grows = (difference >= 0) == (side > 0)
    k = spread[1] if grows else spread[0]
    m = max(label_spread[0] if grows else label_spread[1], 1e-12)
    return float(np.clip(0.5 + k * difference / (2 * m), 0.0, 1.0))
