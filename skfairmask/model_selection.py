"""Scorers and a refit rule for choosing a model under a bias tolerance.

``make_phi_scorer`` serves single-metric searches. For a search that keeps
balanced accuracy and the bias apart in ``cv_results_``, use
:func:`fairness_scoring` as ``scoring`` and :func:`select_fair_best` as
``refit``: it refits the candidate with the best balanced accuracy among those
whose mean |bias| stayed under the tolerance.

A search compares many candidates on a few folds, so the best mean score is
biased upwards by luck, the more so the more candidates share the grid.
:func:`select_within_noise` is a ``refit`` rule against that: it keeps the
first candidate of the grid (list the defaults first) unless another beats it
fold by fold with the stated confidence, corrected for the number of
candidates compared.

The protected attribute reaches the scorers in one of two ways: routed as
``sensitive`` (with ``sklearn.set_config(enable_metadata_routing=True)``), or,
with ``prot_attr``, read from an index level of a DataFrame ``X``, AIF360's
convention, which needs no routing.

The Φ scorer counts a candidate's balanced accuracy only when the fairness
objective's bound on its ``|bias|`` on the fold is under ``epsilon`` at
``confidence``, so a search stops rewarding candidates whose bias sits at the
tolerance's edge of a small fold by chance.
"""

import re
import warnings

import numpy as np
import sklearn
from scipy import stats
from sklearn.metrics import balanced_accuracy_score, make_scorer

from ._validation import check_sensitive, sensitive_from_index
from .metrics import bias_gap, check_bias_metric
from .objective import DEFAULT_CONFIDENCE, check_confidence, phi_score

__all__ = ["fairness_scoring", "make_phi_scorer", "select_fair_best", "select_within_noise"]

#: How sure :func:`select_within_noise` must be that a candidate beats the defaults before it leaves them.
#: A rule of model selection, not the fairness promise (DEFAULT_CONFIDENCE): benchmarks/tuning.py measured
#: it at this level, where it kept the defaults on 88 of 90 pairs and matched their test Φ (docs/tuning.md).
SELECTION_CONFIDENCE = 0.90

_ROUTING_FIX = (
    "The scorer received no sensitive attribute. Pass it through metadata routing: call "
    "sklearn.set_config(enable_metadata_routing=True) before fitting, then pass sensitive=A to the "
    "search's fit (the skfairmask scorers already request it; a scorer of your own needs "
    ".set_score_request(sensitive=True)). Or build the scorer with prot_attr= naming an index level of a "
    "DataFrame X that holds the attribute."
)


def _coded(y_true, y_pred, sensitive, priv_group):
    """Binary labels as 0/1 (the greatest favourable), other labels as they are, and the groups coded."""
    if sensitive is None:
        raise ValueError(_ROUTING_FIX)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    sensitive = check_sensitive(sensitive, n_samples=len(y_true), priv_group=priv_group)
    if len(np.unique(np.concatenate([y_true, y_pred]))) > 2:
        return y_true, y_pred, sensitive
    favourable = np.unique(y_true)[-1]
    return (y_true == favourable).astype(float), (y_pred == favourable).astype(float), sensitive


def _phi(y_true, y_pred, *, sensitive=None, bias_metric, epsilon, confidence, priv_group):
    y_true, y_pred, sensitive = _coded(y_true, y_pred, sensitive, priv_group)
    return phi_score(y_true, y_pred, sensitive=sensitive, bias_metric=bias_metric, epsilon=epsilon,
                     confidence=confidence)


def _abs_bias(y_true, y_pred, *, sensitive=None, bias_metric, priv_group):
    y_true, y_pred, sensitive = _coded(y_true, y_pred, sensitive, priv_group)
    return abs(float(bias_gap(y_true, y_pred, sensitive, bias_metric)))


class _IndexScorer:
    """A scorer that reads the protected attribute from an index level of ``X``."""

    def __init__(self, score_func, prot_attr, sign, **kwargs):
        self.score_func, self.prot_attr, self.sign, self.kwargs = score_func, prot_attr, sign, kwargs

    def __call__(self, estimator, X, y):
        sensitive = sensitive_from_index(X, self.prot_attr)
        return self.sign * self.score_func(y, estimator.predict(X), sensitive=sensitive, **self.kwargs)

    def __repr__(self):
        return f"{type(self).__name__}({self.score_func.__name__.strip('_')}, prot_attr={self.prot_attr!r})"


def _scorer(score_func, *, greater_is_better=True, prot_attr=None, **kwargs):
    if prot_attr is not None:
        return _IndexScorer(score_func, prot_attr, 1 if greater_is_better else -1, **kwargs)
    scorer = make_scorer(score_func, greater_is_better=greater_is_better, **kwargs)
    # Requests can only be recorded while routing is on; they persist afterwards.
    with sklearn.config_context(enable_metadata_routing=True):
        return scorer.set_score_request(sensitive=True)


def make_phi_scorer(bias_metric="spd", epsilon=0.05, *, confidence=DEFAULT_CONFIDENCE, prot_attr=None,
                    priv_group=1):
    """A scikit-learn scorer for Φ at a confidence: balanced accuracy if ``|bias| < epsilon`` surely, else 0.

    The bias counts as within the tolerance when its upper confidence bound
    on the scored rows is (:class:`~skfairmask.objective.FairnessObjective`),
    as the estimator's own choices do. Use it as ``scoring=`` in
    GridSearchCV, cross_validate and friends. Either enable metadata routing
    (``sklearn.set_config(enable_metadata_routing=True)``) and pass
    ``sensitive=A`` to their ``fit``, which then reaches both the estimator
    and this scorer; or name the index level of ``X`` that holds the
    attribute with ``prot_attr``.

    Parameters
    ----------
    bias_metric : {"spd", "eod", "aod"}, default="spd"
        The bias measure that must stay within the tolerance.
    epsilon : float, default=0.05
        The tolerance on the absolute bias.
    confidence : float or None, default=0.80
        The confidence of the bound; None compares the point estimate of the
        bias with ``epsilon`` (plain Φ, as :func:`~skfairmask.phi_score`).
    prot_attr : str, optional
        Read the attribute from this index level of a DataFrame ``X``.
    priv_group : scalar, default=1
        The attribute's value for the privileged group.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y[, sensitive=A])``; greater is better.
    """
    check_bias_metric(bias_metric)
    return _scorer(_phi, prot_attr=prot_attr, bias_metric=bias_metric, epsilon=epsilon, confidence=confidence,
                   priv_group=priv_group)


def fairness_scoring(bias_metric="spd", epsilon=0.05, *, confidence=DEFAULT_CONFIDENCE, prot_attr=None,
                     priv_group=1):
    """Multi-metric ``scoring``: ``"phi"``, ``"balanced_accuracy"`` and ``"neg_abs_bias"``.

    ``neg_abs_bias`` is ``-|bias|``, so that, as for every scikit-learn scorer,
    greater is better; ``cv_results_["mean_test_neg_abs_bias"]`` holds it.

    Parameters
    ----------
    bias_metric, epsilon, confidence, prot_attr, priv_group
        As in :func:`make_phi_scorer`.

    Returns
    -------
    dict of str to callable
    """
    check_bias_metric(bias_metric)
    return {
        "phi": make_phi_scorer(bias_metric, epsilon, confidence=confidence, prot_attr=prot_attr,
                               priv_group=priv_group),
        "balanced_accuracy": make_scorer(balanced_accuracy_score),
        "neg_abs_bias": _scorer(_abs_bias, greater_is_better=False, prot_attr=prot_attr,
                                bias_metric=bias_metric, priv_group=priv_group),
    }


def select_fair_best(epsilon=0.05):
    """A ``refit`` rule: the best balanced accuracy among candidates with mean ``|bias| < epsilon``.

    Pass it as ``refit=select_fair_best(epsilon)`` with
    ``scoring=fairness_scoring(...)``. When no candidate is within the
    tolerance, it warns and picks the least biased.

    Parameters
    ----------
    epsilon : float, default=0.05

    Returns
    -------
    callable
        ``rule(cv_results) -> index`` of the candidate to refit.
    """

    def rule(cv_results):
        accuracy = np.asarray(cv_results["mean_test_balanced_accuracy"], dtype=float)
        bias = -np.asarray(cv_results["mean_test_neg_abs_bias"], dtype=float)
        fair = bias < epsilon
        if not fair.any():
            warnings.warn(f"No candidate kept its mean |bias| under epsilon={epsilon}; refitting the "
                          "least biased one.", UserWarning)
            return int(np.argmin(bias))
        return int(np.flatnonzero(fair)[np.argmax(accuracy[fair])])

    rule.__name__ = f"select_fair_best(epsilon={epsilon})"
    return rule


def select_within_noise(confidence=SELECTION_CONFIDENCE, *, score="score"):
    """A ``refit`` rule: the first candidate, unless another beats it fold by fold with confidence.

    Candidates are taken in the order of ``cv_results_``, which for
    ``GridSearchCV`` is the order of the grid: put the estimator's defaults
    first. Every other candidate's lead over the first is measured fold by
    fold, on the same rows, and gets a one-sided lower t bound at
    ``confidence``, Bonferroni-corrected for the number of candidates
    compared. The search leaves the first candidate only for one whose bound
    is above 0, and among those takes the largest mean lead. So, with
    probability about ``confidence`` over the folds, it never trades the
    defaults for a candidate that merely drew luckier folds, however large
    the grid. Few folds give a wide bound: with two, a candidate must lead on
    both folds by nearly the same amount.

    The folds' models train on fewer rows than the refit does, and the test
    is about them: a candidate that fares worse on small data than the
    defaults do is judged by how it fares there. Pass the rule as
    ``refit=select_within_noise()`` with ``scoring=make_phi_scorer(...)``, or
    with ``score="phi"`` and ``scoring=fairness_scoring(...)``. As with any
    callable ``refit``, the search then has no ``best_score_``: read
    ``cv_results_["mean_test_score"][best_index_]``.

    Parameters
    ----------
    confidence : float or None, default=0.90
        The chance that no candidate is preferred to the first by luck of the
        folds. None takes the best mean score, ties going to the first.
    score : str, default="score"
        The scorer's name in ``cv_results_``: ``"score"`` for a single
        scorer, the key of a multi-metric ``scoring`` otherwise.

    Returns
    -------
    callable
        ``rule(cv_results) -> index`` of the candidate to refit.

    Examples
    --------
    >>> rule = select_within_noise()
    >>> rule({"split0_test_score": [0.70, 0.68], "split1_test_score": [0.70, 0.78],
    ...       "mean_test_score": [0.70, 0.73]})
    0
    """
    check_confidence(confidence)

    def rule(cv_results):
        folds = np.column_stack([np.asarray(cv_results[key], dtype=float) for key in _split_keys(cv_results, score)])
        mean = np.nan_to_num(folds.mean(axis=1), nan=-np.inf)
        if confidence is None or not np.isfinite(mean[0]):
            # Without a confidence, or with defaults that failed on a fold, there is nothing to test against.
            return int(np.argmax(mean))
        lead = folds[1:] - folds[0]
        comparable = np.flatnonzero(np.isfinite(lead).all(axis=1))
        n_splits = folds.shape[1]
        if n_splits < 2 or comparable.size == 0:
            return 0
        quantile = stats.t.ppf(1 - (1 - confidence) / comparable.size, df=n_splits - 1)
        lead = lead[comparable]
        mean_lead = lead.mean(axis=1)
        lower = mean_lead - quantile * lead.std(axis=1, ddof=1) / np.sqrt(n_splits)
        winners = np.flatnonzero(lower > 0)
        if winners.size == 0:
            return 0
        return int(comparable[winners[np.argmax(mean_lead[winners])]] + 1)

    rule.__name__ = f"select_within_noise(confidence={confidence})"
    return rule


def _split_keys(cv_results, score):
    """The ``split<k>_test_<score>`` keys of ``cv_results``, in fold order."""
    pattern = re.compile(rf"split(\d+)_test_{re.escape(score)}")
    keys = [key for key in cv_results if pattern.fullmatch(key)]
    if not keys:
        raise ValueError(f"cv_results has no split<k>_test_{score} entries; is score={score!r} the name of "
                         "the search's scorer?")
    return sorted(keys, key=lambda key: int(pattern.fullmatch(key).group(1)))
