"""Choosing among networks and decision rules with the fairness objective.

The rows given to ``fit`` are split three ways (:class:`DebiasData`):

* **train** rows, that masks and weights are learned on;
* **selection** rows, on which every choice is made: the fine-tuning epoch,
  the strategy, the candidate rules and their order;
* **safety** rows, read once, at the end, to certify the final rule
  (:func:`certify_results`). Their bounds hold for that one rule however
  many choices came before, because no choice read them.

Every choice compares candidates by
:meth:`~skfairmask.objective.FairnessObjective.rank`, with the bounds of the
selection rows widened as predicted for the safety test.

Where every candidate is a threshold per group on a score that learnt
nothing from the rows (``offset`` when the protected attribute is a column
of ``X``), the final choice reads every row instead, under a band that holds
for all candidates at once (:func:`certify_results`). Where that band is too
wide for ``epsilon``, each group's threshold goes at one rate near the share
of favourable labels among every row (:func:`base_rate_selection`), or, for
EOD, at one true positive rate near the network's own
(:func:`true_positive_rate_selection`). The ``quantile``
strategy's rule sets those thresholds on the certifying rows themselves, at
a rate chosen on the selection rows (:func:`quantile_selection`).

Where no rule both fair and better than a constant prediction is certified,
the fit hands back by default the most accurate rule that looks fair on
every row no network learnt from, certified nowhere
(:func:`most_accurate_uncertified`).
"""

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from scipy.special import expit
from sklearn.metrics import balanced_accuracy_score, roc_curve

from . import _outputs, quantiles
from ._rows import Rows
from .metrics import bias_gap
from .objective import Certificate, Evaluation
from .threshold import CONSTANT_THRESHOLDS

__all__ = ["DEFAULT_FALLBACK", "FALLBACKS", "DebiasData", "Selection", "base_rate_selection", "certify_results",
           "evaluate_network", "every_row_band", "most_accurate_uncertified", "quantile_selection",
           "rate_near_base_rate", "reads_proxies", "selection_summary", "true_positive_rate_near_network",
           "true_positive_rate_selection"]

#: What a fit hands back when it certifies no rule both fair and better than a constant prediction:
#: the most accurate rule that looks fair on the rows it may read (:func:`most_accurate_uncertified`),
#: or the rule the certification ended on, the surest it tried (often a constant prediction).
FALLBACKS = ("most_accurate", "surest")
DEFAULT_FALLBACK = "most_accurate"


@dataclass(frozen=True)
class DebiasData:
    """The rows given to ``fit``, split into train, selection and safety rows.

    Attributes
    ----------
    train, selection, safety : Rows
    """

    train: object
    selection: object
    safety: object

    def future_ratio(self, rows):
        """How many safety rows there are per row of ``rows``: how much a choice on them must predict."""
        return len(self.safety) / len(rows)

    @cached_property
    def every_row(self):
        """Train, selection and safety rows together (built once: the offset and both routes read it)."""
        return Rows.concatenate([self.train, self.selection, self.safety])

    def choice_rows(self, fitted_to_train=True):
        """The rows a final choice may read: the selection rows, and the training rows if nothing learnt from them."""
        if fitted_to_train:
            return self.selection
        return Rows.concatenate([self.train, self.selection])


@dataclass(frozen=True)
class Selection:
    """The certified outcome of a fit.

    Attributes
    ----------
    threshold : float or None
        The decision threshold; None for a multi-class network.
    member : float or None
        The chosen member of the network's family (an output offset's
        scale), or None when the network has no family.
    certificate : Certificate
    """

    threshold: object
    member: object
    certificate: Certificate


@torch.no_grad()
def network_scores(network, rows, family=None):
    """The network's probabilities on ``rows``: (n,) or (n, k), or (m, n) for each member of ``family``."""
    network.eval()
    if family is None:
        return _outputs.probabilities(network(rows.X)).cpu().numpy()
    return np.stack([_outputs.probabilities(family.output(network, rows.X, value)).cpu().numpy()
                     for value in family.members])


def evaluate_network(network, rows, objective, *, family=None, thresholds=None, future_ratio=None):
    """Evaluate every candidate rule of ``network`` (and of its family) on ``rows``.

    Parameters
    ----------
    network : torch.nn.Module
    rows : Rows
    objective : FairnessObjective
    family : object, optional
        A family of edited networks (``members`` and ``output(network, X, value)``),
        such as the output offset of :mod:`skfairmask.strategies`.
    thresholds : ndarray of shape (m, k), optional
        The candidate thresholds; chosen from these rows' scores if omitted.
    future_ratio : float, optional
        Predict the bounds for a test on this many times as many fresh rows.

    Returns
    -------
    evaluation : Evaluation
    thresholds : ndarray of shape (m, k), or None for a multi-class network
    """
    scores = network_scores(network, rows, family)
    y, sensitive = rows.y.cpu().numpy(), rows.sensitive.cpu().numpy()
    if family is None and scores.ndim == 2:
        return objective.evaluate_classes(y, scores, sensitive, future_ratio=future_ratio), None
    thresholds = objective.thresholds_for(np.atleast_2d(scores)) if thresholds is None else thresholds
    return objective.evaluate(y, scores, sensitive, thresholds, future_ratio=future_ratio), thresholds


def selection_summary(network, data, objective, rows=None, family=None):
    """The best candidate of ``network`` on the selection rows (or ``rows``), as a record.

    Returns
    -------
    dict
        ``rank`` (what choices compare), and that candidate's
        ``balanced_accuracy``, ``bias`` and ``bias_bound`` (the bound on
        ``|bias|`` predicted for the safety test).
    """
    rows = data.selection if rows is None else rows
    evaluation, _ = evaluate_network(network, rows, objective, family=family,
                                     future_ratio=data.future_ratio(rows))
    best = int(np.argmax(evaluation.rank))
    return {"rank": float(evaluation.rank[best]), "balanced_accuracy": float(evaluation.balanced_accuracy[best]),
            "bias": float(evaluation.bias[best]), "bias_bound": float(evaluation.abs_bias_upper[best])}


def certify_results(results, data, objective):
    """Choose the final rule among every strategy result's candidates, and certify it.

    Five routes, decided from the row counts (and the labels' share, or for EOD one number read off the
    network's scores) before any candidate is evaluated:

    * **at quantiles**, for the ``quantile`` strategy, where a rate of
      :data:`~skfairmask.quantiles.QUANTILE_RATES` can be certified on
      these counts: :func:`quantile_selection`;
    * **on every row**, where each result's candidates are thresholds per
      group on a score that learnt nothing from the rows (its family says
      ``per_group``) and the uniform band of
      :meth:`~skfairmask.objective.FairnessObjective.uniform_widths`, which
      depends on the row counts alone, is narrower than ``epsilon``:
      :meth:`~skfairmask.objective.FairnessObjective.certify_uniform`;
    * **near the base rate**, where the band is too wide but a single such
      result's quantile rule at a rate near the share of favourable labels
      passes on every row's counts: :func:`base_rate_selection`;
    * **at one true positive rate**, the same for EOD: each group's threshold
      at one true positive rate, near the network's own, placed among its
      favourable-labelled rows: :func:`true_positive_rate_selection`;
    * otherwise **on the safety rows**: each result's candidates are estimated
      on the rows its choice may read (the selection rows, and the training
      rows too if nothing was learnt from them), and the ladder of
      :meth:`~skfairmask.objective.FairnessObjective.certify` runs over all
      of them, and of the rules it certifies the one of highest expected Φ
      is kept, each rule's bias read from its selection and safety estimates
      pooled (:meth:`~skfairmask.objective.FairnessObjective.pooled`); where
      a family reads proxies of the attribute (:func:`reads_proxies`), two
      ladders run, each at half the error
      (:meth:`~skfairmask.objective.FairnessObjective.certify_hedged`), and
      the safety estimates alone are read.

    Parameters
    ----------
    results : dict of str to StrategyResult
        One result, or a portfolio's members.
    data : DebiasData
    objective : FairnessObjective

    Returns
    -------
    name : str
        The result whose rule was chosen.
    selection : Selection
    """
    (name, first), *others = results.items()
    if first.certify_at_quantiles and not others:
        selection = quantile_selection(first, data, objective)
        if selection is not None:
            return name, selection
    widths = every_row_band(results, data, objective)
    if widths is not None:
        plain = dataclasses.replace(objective, confidence=None)
        evaluated = [evaluate_network(result.network, data.every_row, plain, family=result.family)
                     for result in results.values()]
        certificate = objective.certify_uniform(Evaluation.concatenate([e for e, _ in evaluated]), widths)
        return _chosen(results, [t for _, t in evaluated], [len(e) for e, _ in evaluated], certificate)
    if not others:
        for one_rate_selection in (base_rate_selection, true_positive_rate_selection):
            selection = one_rate_selection(first, data, objective)
            if selection is not None:
                return name, selection
    hedged = objective.confidence is not None and reads_proxies(results, data)
    # Two sequences share the error δ: every estimate and bound is then read at half of it.
    judge = objective.halved() if hedged else objective
    selections, leanings, safeties, thresholds, ratios = [], [], [], [], []
    for result in results.values():
        rows = data.choice_rows(result.fitted_to_train)
        ratio = data.future_ratio(rows)
        selection, candidates = evaluate_network(result.network, rows, judge, family=result.family,
                                                 future_ratio=ratio)
        safety, _ = evaluate_network(result.network, data.safety, judge, family=result.family,
                                     thresholds=candidates)
        selections.append(selection)
        leanings.append(judge.leaning(selection, ratio) if hedged else selection)
        safeties.append(safety)
        thresholds.append(candidates)
        ratios.append(np.full(len(selection), ratio))
    selection, safety = Evaluation.concatenate(selections), Evaluation.concatenate(safeties)
    # The rule kept among those certified is chosen on both rows' estimates of its bias pooled, except where
    # the offset reads proxies: there the selection rows' estimates lean toward fairness (pick.md, unaware).
    certificate = (judge.certify_hedged(selection, Evaluation.concatenate(leanings), safety) if hedged
                   else judge.certify(selection, safety, future_ratio=np.concatenate(ratios)))
    return _chosen(results, thresholds, [len(s) for s in selections], certificate)


def most_accurate_uncertified(results, data, objective):
    """The most accurate rule whose bound on ``|bias|`` is under ``epsilon`` on every row no network learnt from.

    What a fit hands back where :func:`certify_results` certified no rule
    both fair and better than a constant prediction, which on a few hundred
    rows leaves only a constant one, fair and useless. This is the choice a
    post-processor such as ThresholdOptimizer makes: the most accurate rule
    that looks fair on all the rows at hand (those its choice may read,
    :meth:`DebiasData.choice_rows`, and the safety rows), here with the
    bound at the objective's confidence rather than the estimate. Those rows
    chose it, so its bounds are optimistic and nothing about it is
    certified: its certificate says so (``rows="uncertified"``,
    ``certified_epsilon`` infinite).

    Parameters
    ----------
    results : dict of str to StrategyResult
        Every strategy result of the fit: one, or a portfolio's members.
    data : DebiasData
        The fit's rows.
    objective : FairnessObjective
        Whose confidence the bounds are read at.

    Returns
    -------
    tuple of (str, Selection), or None
        The result whose rule was chosen, and the rule; None where no rule
        that predicts both classes, and scores above a constant prediction,
        has its bound under ``epsilon``.
    """
    best, n_candidates = None, 0
    for name, result in results.items():
        rows = Rows.concatenate([data.choice_rows(result.fitted_to_train), data.safety])
        evaluation, thresholds = evaluate_network(result.network, rows, objective, family=result.family)
        n_candidates += len(evaluation)
        accuracy = np.nan_to_num(evaluation.balanced_accuracy, nan=-np.inf)
        useful = evaluation.fair & ~evaluation.constant & (accuracy > evaluation.chance)
        accuracy = np.where(useful, accuracy, -np.inf)
        index = int(np.argmax(accuracy))
        if useful[index] and (best is None or accuracy[index] > best[0]):
            best = (accuracy[index], name, evaluation, thresholds, index)
    if best is None:
        return None
    _, name, evaluation, thresholds, index = best
    chosen = evaluation[index]
    certificate = Certificate(
        index=index, tolerance_met=False, fair=False, better_than_constant=False, constant=False,
        certified_epsilon=float("inf"), bias=float(chosen.bias),
        bias_interval=(float(chosen.bias_lower), float(chosen.bias_upper)),
        balanced_accuracy=float(chosen.balanced_accuracy), ba_interval=(float(chosen.ba_lower), float(chosen.ba_upper)),
        n_rows=evaluation.n_rows, n_tested=n_candidates, n_certified=0, confidence=objective.confidence,
        epsilon=objective.epsilon, rows="uncertified")
    return _chosen({name: results[name]}, [thresholds], [len(evaluation)], certificate)


def reads_proxies(results, data):
    """Whether a result's family reads proxies of the attribute: the choice on the safety rows then hedges.

    It does where a result's family reads proxies of the attribute (an
    output offset whose ``g`` is fitted to the training rows, not a column
    that holds the group) and there are two groups. On
    ``benchmarks/proxy_choice.py``'s runs the rules that looked fair on the
    rows the choice reads drifted toward the network's bias on the safety
    rows there, and the top rungs of the ladder failed together; so two
    ladders run (:meth:`~skfairmask.objective.FairnessObjective.certify_hedged`).
    Elsewhere, on ``benchmarks/ladder.py``'s runs, the hedge bought nothing
    beyond noise, and a fit keeps one ladder at the whole error.

    Parameters
    ----------
    results : dict of str to StrategyResult
    data : DebiasData

    Returns
    -------
    bool
    """
    proxies = any(result.family is not None and not getattr(result.family, "per_group", False)
                  for result in results.values())
    return proxies and data.safety.sensitive.dim() == 1


def every_row_band(results, data, objective):
    """The uniform band's widths if the final choice may read every row (:func:`certify_results`), else None.

    Parameters
    ----------
    results : dict of str to StrategyResult
    data : DebiasData
    objective : FairnessObjective

    Returns
    -------
    tuple of float or None
        :meth:`~skfairmask.objective.FairnessObjective.uniform_widths` of
        every row, where every result's family is ``per_group``, nothing was
        fitted to the training rows, there are two groups, the objective has
        a confidence and the bias band is narrower than ``epsilon``; None
        otherwise.
    """
    per_group = all(_per_group(result) for result in results.values())
    if not per_group or objective.confidence is None or data.safety.sensitive.dim() != 1:
        return None
    rows = data.every_row
    widths = objective.uniform_widths(rows.y.cpu().numpy(), rows.sensitive.cpu().numpy())
    return widths if widths[0] < objective.epsilon else None


def quantile_selection(result, data, objective):
    """Choose a rate on the selection rows, set each group's threshold at it on the others, and certify.

    Each group's threshold is placed at the same quantile of its scores
    (the base network's logit) on the training and safety rows, and the
    offset's member and threshold that make exactly that rule are handed
    back; :mod:`skfairmask.quantiles` says why the rule's bias and balanced
    accuracy can be bounded on the very rows that set it. Only the rate is
    chosen, on the selection rows (:func:`~skfairmask.quantiles.choose_rate`).

    Parameters
    ----------
    result : StrategyResult
        Of the ``quantile`` strategy: a ``per_group`` output offset.
    data : DebiasData
    objective : FairnessObjective
        With a confidence, ``spd`` and a tuned threshold.

    Returns
    -------
    Selection or None
        None where the certifying rows' counts certify no rate (the fit
        then takes the other routes). Where the chosen rule ties at a
        threshold, or the network cannot reproduce it exactly, the constant
        prediction, certified as nothing more.
    """
    certifying = Rows.concatenate([data.train, data.safety])
    choice_logit, _, choice_y, choice_groups = _per_group_scores(result, data.selection)
    # Whether a rate is eligible depends on the certifying rows' counts alone, never on their scores.
    sizes = _group_sizes(certifying)
    if min(sizes) < 2 or min(np.bincount(choice_groups, minlength=2)) < 2:
        return None
    rate, n_eligible = quantiles.choose_rate(choice_logit, choice_y, choice_groups, sizes, objective.epsilon,
                                             1 - objective.confidence)
    if rate is None:
        return None
    index = quantiles.QUANTILE_RATES.index(rate)
    selection = _at_quantile(result, certifying, rate, objective, index=index,
                             n_tested=len(quantiles.QUANTILE_RATES), n_certified=n_eligible, route="quantiles")
    if selection is None:
        constant = _constant_certificate(objective, len(certifying), index, n_eligible)
        return Selection(CONSTANT_THRESHOLDS[1], 0.0, constant)
    return selection


def rate_near_base_rate(result, data, objective):
    """The rate of :func:`base_rate_selection`, where its route applies; None otherwise.

    The route applies where ``result`` is one threshold per group on a
    score that learnt nothing from the rows (its family says
    ``per_group``), the objective certifies ``spd`` with a tuned threshold,
    and there are two groups. The rate starts at the base rate, the share
    of favourable labels among every row, and moves away from one half,
    through :data:`~skfairmask.quantiles.QUANTILE_RATES`, only as far as
    the groups' row counts require for two things: the laws bound the
    quantile rule's ``|SPD|`` under ``epsilon`` with the confidence
    (:func:`~skfairmask.quantiles.rate_tail`, the certificate), and a new
    sample as large as these rows would measure it under ``epsilon`` with
    chance :data:`~skfairmask.quantiles.SAMPLE_FAIR_SHARE`
    (:func:`~skfairmask.quantiles.sample_fair_chance`), so that a user's own
    test of that size agrees with the certificate as often as the default's
    other routes do. Near one half each group's rate spreads most, and
    nearer 0 or 1 the rule is less accurate, so the rate kept is the
    eligible one nearest the base rate. No score is read.

    Parameters
    ----------
    result : StrategyResult
    data : DebiasData
    objective : FairnessObjective

    Returns
    -------
    float or None
        None also where no rate from 0.10 to 0.90 is eligible.
    """
    if not _one_rate_applies(result, data, objective, "spd"):
        return None
    rows = data.every_row
    labels_rate = float(rows.y.float().mean())
    low, high = quantiles.QUANTILE_RATES[0], quantiles.QUANTILE_RATES[-1]
    candidates = [float(rate) for rate in quantiles.QUANTILE_RATES]
    if low <= labels_rate <= high:
        candidates.append(labels_rate)
    return _nearest_passing_rate(candidates, labels_rate, _group_sizes(rows), objective)


def base_rate_selection(result, data, objective):
    """Each group's threshold at one rate near the labels' base rate, certified on every row; or None.

    The rule predicts favourable for the same share of each group, the rate
    of :func:`rate_near_base_rate`, which reads the row counts and the
    labels and no score; each group's threshold sits at that quantile of its
    scores on every row, and the laws of :mod:`skfairmask.quantiles` bound
    the rule's bias and balanced accuracy on those rows (``docs/method.md``
    §6 says why reading the labels' share leaves them standing).

    Parameters
    ----------
    result : StrategyResult
        A ``per_group`` output offset.
    data : DebiasData
    objective : FairnessObjective

    Returns
    -------
    Selection or None
        None where :func:`rate_near_base_rate` says the route does not apply, or
        where the rule ties at a threshold beyond the laws' allowance or
        the network cannot reproduce it exactly; the fit then certifies on
        the safety rows.
    """
    rate = rate_near_base_rate(result, data, objective)
    if rate is None:
        return None
    return _at_quantile(result, data.every_row, rate, objective, index=0, n_tested=1, n_certified=1,
                        route="base_rate")


def true_positive_rate_near_network(result, data, objective):
    """The true positive rate of :func:`true_positive_rate_selection` where its route applies, else None.

    The route applies where :func:`rate_near_base_rate`'s does, for ``eod``.
    Its laws are those of the base-rate route, on each group's
    favourable-labelled rows. A perfect classifier's true positive rate is
    1, which anchors nothing, so the rate starts at the network's own: its
    true positive rate at the threshold where its balanced accuracy on
    every row is highest. It then moves, through
    :data:`~skfairmask.quantiles.TRUE_POSITIVE_RATES`, only as far as the
    counts of favourable labels in each group require for the two tests of
    :func:`rate_near_base_rate`.

    Parameters
    ----------
    result : StrategyResult
    data : DebiasData
    objective : FairnessObjective

    Returns
    -------
    float or None
        None also where no rate from 0.50 to 0.99 passes.
    """
    if not _one_rate_applies(result, data, objective, "eod"):
        return None
    rows = data.every_row
    logit, _, y, _ = _per_group_scores(result, rows)
    false_positive_rates, true_positive_rates, _ = roc_curve(y, logit)
    network_rate = float(true_positive_rates[np.argmax(true_positive_rates - false_positive_rates)])
    return _nearest_passing_rate(quantiles.TRUE_POSITIVE_RATES, network_rate, _group_sizes(rows, label=1),
                                 objective)


def true_positive_rate_selection(result, data, objective):
    """Each group's threshold at one true positive rate near the network's, certified on every row; or None.

    The rule gives each group's favourable-labelled rows the same true
    positive rate, that of :func:`true_positive_rate_near_network`: each
    group's threshold sits at that quantile of its favourable-labelled rows'
    scores. The laws of :mod:`skfairmask.quantiles` bound the rule's equal
    opportunity difference and balanced accuracy on those rows.

    Parameters
    ----------
    result : StrategyResult
        A ``per_group`` output offset.
    data : DebiasData
    objective : FairnessObjective

    Returns
    -------
    Selection or None
        None where the route does not apply, or where the rule ties at a
        threshold beyond the laws' allowance or the network cannot
        reproduce it exactly; the fit then certifies on the safety rows.
    """
    rate = true_positive_rate_near_network(result, data, objective)
    if rate is None:
        return None
    return _at_quantile(result, data.every_row, rate, objective, index=0, n_tested=1, n_certified=1,
                        route="true_positive_rate", favourable_only=True)


def _one_rate_applies(result, data, objective, bias_metric):
    """Whether a route at one rate on every row may certify ``result`` for ``bias_metric``."""
    return (_per_group(result) and objective.confidence is not None and objective.bias_metric == bias_metric
            and objective.threshold == "tune" and data.safety.sensitive.dim() == 1)


def _nearest_passing_rate(candidates, anchor, sizes, objective):
    """The candidate nearest ``anchor`` that the counts ``sizes`` certify and a new sample would find fair.

    The tests are :func:`rate_near_base_rate`'s, on rules that leave
    :data:`~skfairmask.quantiles.ROWS_EACH_SIDE` rows of each group on each
    side of its threshold, where the second test's normal reading holds.
    None where no candidate passes.
    """
    if min(sizes) < 2:
        return None
    # Nearest first; the normal prediction is cheap, the law's tail a numerical convolution.
    for rate in sorted(candidates, key=lambda rate: (abs(rate - anchor), rate)):
        fair_chance = quantiles.sample_fair_chance(rate, sizes, objective.epsilon)
        if (all(quantiles.leaves_rows_each_side(rate, n) for n in sizes)
                and fair_chance >= quantiles.SAMPLE_FAIR_SHARE
                and quantiles.rate_tail(rate, sizes, objective.epsilon) <= 1 - objective.confidence):
            return float(rate)
    return None


def _at_quantile(result, rows, rate, objective, *, index, n_tested, n_certified, route,
                 favourable_only=False):
    """The quantile rule at ``rate`` on ``rows``, as the offset's member and threshold, with its certificate.

    ``route`` is the certificate's ``rows``; ``favourable_only`` places the thresholds among each group's
    favourable-labelled rows. None where the rule ties beyond the laws' allowance or the network cannot
    reproduce it exactly.
    """
    delta = 1 - objective.confidence
    logit, offset, y, groups = _per_group_scores(result, rows)
    rule = quantiles.quantile_rule(logit, groups, rate, y=y if favourable_only else None)
    predicted = quantiles.predict(rule, logit, groups)
    realised = _realised(rule, offset, groups)
    if rule.tied or realised is None or not _reproduces(result, rows.X, realised, predicted):
        return None
    gap = quantiles.certified_gap(rule.counts, delta)
    fair = bool(quantiles.rate_gap_tail(rule.counts, objective.epsilon) <= delta)
    lower, upper = quantiles.balanced_accuracy_bounds(rule, logit, y, groups, delta)
    better = bool(lower > 0.5)
    balanced = balanced_accuracy_score(y, predicted)
    bias = bias_gap(y, predicted, groups, objective.bias_metric)
    certificate = Certificate(
        index=index, tolerance_met=fair and better, fair=fair, better_than_constant=better, constant=False,
        certified_epsilon=gap, bias=float(bias), bias_interval=(-gap, gap), balanced_accuracy=float(balanced),
        ba_interval=(lower, upper), n_rows=len(y), n_tested=n_tested, n_certified=n_certified,
        confidence=objective.confidence, epsilon=objective.epsilon, rows=route)
    scale, threshold = realised
    return Selection(threshold, scale, certificate)


def _per_group(result):
    """Whether ``result``'s candidates are thresholds per group on a score that learnt nothing from the rows."""
    return (result.family is not None and getattr(result.family, "per_group", False)
            and not result.fitted_to_train)


def _group_sizes(rows, label=None):
    """Each group's row count (two groups coded 0/1), among the rows of ``label`` if given."""
    groups = rows.sensitive.cpu().numpy().astype(int)
    if label is not None:
        groups = groups[rows.y.cpu().numpy() == label]
    return tuple(int(n) for n in np.bincount(groups, minlength=2))


def _per_group_scores(result, rows):
    """The base logit, each row's group offset ``g``, labels and groups of ``rows``, as numpy arrays."""
    network, family = result.network, result.family
    with torch.no_grad():
        network.eval()
        logit = family.output(network, rows.X, 0.0)
        offset = logit - family.output(network, rows.X, 1.0)
    return (logit.cpu().double().numpy(), offset.cpu().double().numpy(), rows.y.cpu().numpy().astype(int),
            rows.sensitive.cpu().numpy().astype(int))


def _realised(rule, offset, groups):
    """The offset's member ``s`` and the probability threshold that make ``rule``'s thresholds on the logit.

    The member predicts favourable where ``logit − s·g > L``: a threshold of
    ``L + s·g_a`` on group ``a``'s logit, so two groups' thresholds fix both.
    None where ``g`` does not tell the groups apart.
    """
    g = [float(np.mean(offset[groups == group])) for group in (0, 1)]
    if np.isclose(g[0], g[1], rtol=0, atol=1e-9):
        return None
    scale = (rule.thresholds[1] - rule.thresholds[0]) / (g[1] - g[0])
    logit_threshold = rule.thresholds[0] - scale * g[0]
    return float(scale), float(expit(logit_threshold))


@torch.no_grad()
def _reproduces(result, X, realised, predicted):
    """Whether the offset's member and threshold ``realised`` predict exactly ``predicted`` on ``X``."""
    scale, threshold = realised
    proba = _outputs.probabilities(result.family.output(result.network, X, scale)).cpu().numpy()
    return np.array_equal(proba > threshold, predicted)


def _constant_certificate(objective, n_rows, index, n_eligible):
    """The certificate of the constant prediction that the quantile route falls back to."""
    return Certificate(
        index=index, tolerance_met=False, fair=True, better_than_constant=False, constant=True,
        certified_epsilon=0.0, bias=0.0, bias_interval=(0.0, 0.0), balanced_accuracy=0.5,
        ba_interval=(0.5, 0.5), n_rows=n_rows, n_tested=len(quantiles.QUANTILE_RATES), n_certified=n_eligible,
        confidence=objective.confidence, epsilon=objective.epsilon, rows="quantiles")


def _chosen(results, thresholds, sizes, certificate):
    """The result, family member and threshold of the certificate's candidate (numbered across ``results``)."""
    names = list(results)
    owner = int(np.searchsorted(np.cumsum(sizes), certificate.index, side="right"))
    local = certificate.index - sum(sizes[:owner])
    candidates, family = thresholds[owner], list(results.values())[owner].family
    if candidates is None:
        return names[owner], Selection(None, None, certificate)
    member, position = np.unravel_index(local, candidates.shape)
    value = None if family is None else family.members[member]
    return names[owner], Selection(float(candidates[member, position]), value, certificate)
