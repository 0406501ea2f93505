"""Group-fairness measures, the Φ objective and its scikit-learn scorer.

Every bias measure is signed like AIF360's: the unprivileged group
(``sensitive == 0``) minus the privileged group (``sensitive == 1``).

The gaps are written once, in :func:`bias_gap`, with nothing but ``*``,
``sum`` and ``/``, so the same code serves three callers:

* hard 0/1 predictions of shape ``(n,)`` (the public functions below);
* a stack of predictions of shape ``(n_thresholds, n)``, one row per
  candidate threshold (:mod:`skfairmask.threshold`);
* predicted probabilities as a torch tensor, which makes the gap a
  differentiable surrogate for training (:mod:`skfairmask.masking`,
  :mod:`skfairmask.finetune`).
"""

import numpy as np
from sklearn.metrics import balanced_accuracy_score

__all__ = [
    "BIAS_METRICS",
    "average_odds_difference",
    "bias_gap",
    "equal_opportunity_difference",
    "phi_score",
    "statistical_parity_difference",
]


def _rate(y_pred, where):
    """Mean of ``y_pred`` over the rows selected by the 0/1 vector ``where``."""
    return (y_pred * where).sum(-1) / where.sum(-1)


def _spd(y_pred, y_true, unpriv, priv):
    return _rate(y_pred, unpriv) - _rate(y_pred, priv)


def _eod(y_pred, y_true, unpriv, priv):
    return _rate(y_pred, unpriv * y_true) - _rate(y_pred, priv * y_true)


def _aod(y_pred, y_true, unpriv, priv):
    negative = 1 - y_true
    fpr_gap = _rate(y_pred, unpriv * negative) - _rate(y_pred, priv * negative)
    return 0.5 * (fpr_gap + _eod(y_pred, y_true, unpriv, priv))


#: The bias measures by name, each ``(y_pred, y_true, unpriv, priv) -> gap``.
BIAS_METRICS = {"spd": _spd, "eod": _eod, "aod": _aod}


def bias_gap(y_true, y_pred, sensitive, bias_metric):
    """Signed bias of ``y_pred`` for numpy arrays or torch tensors alike.

    Parameters
    ----------
    y_true : array or tensor of shape (n,)
        True labels coded 0/1 (1 is the favourable label).
    y_pred : array or tensor of shape (n,) or (k, n)
        Hard 0/1 predictions, a stack of them, or probabilities of the
        favourable label (which gives the soft surrogate of the measure).
    sensitive : array or tensor of shape (n,)
        Protected attribute coded 0/1 (1 is privileged).
    bias_metric : {"spd", "eod", "aod"}
        Which measure.

    Returns
    -------
    gap : float, array of shape (k,) or tensor
        Unprivileged minus privileged.
    """
    y_true = y_true * 1.0
    priv = sensitive * 1.0
    return BIAS_METRICS[bias_metric](y_pred * 1.0, y_true, 1 - priv, priv)


def _as_binary_arrays(y_true, y_pred, sensitive):
    names = ("y_true", "y_pred", "sensitive")
    arrays = [np.asarray(a, dtype=float).reshape(-1) for a in (y_true, y_pred, sensitive)]
    lengths = {name: len(a) for name, a in zip(names, arrays)}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"y_true, y_pred and sensitive must have the same length, got {lengths}.")
    for name, a in zip(names, arrays):
        if not np.isin(a, (0.0, 1.0)).all():
            raise ValueError(f"{name} must be coded 0/1, got values {np.unique(a)[:5]}.")
    if len(np.unique(arrays[2])) < 2:
        raise ValueError("sensitive must contain both groups (0 and 1), got a single group.")
    return arrays


def _check_bias_metric(bias_metric):
    if bias_metric not in BIAS_METRICS:
        raise ValueError(f"bias_metric must be one of {sorted(BIAS_METRICS)}, got {bias_metric!r}.")


def _hard_gap(y_true, y_pred, sensitive, bias_metric):
    y_true, y_pred, sensitive = _as_binary_arrays(y_true, y_pred, sensitive)
    return float(bias_gap(y_true, y_pred, sensitive, bias_metric))


_SHARED_PARAMETERS = """
    Parameters
    ----------
    y_true : array-like of shape (n,)
        True labels coded 0/1 (1 is the favourable label).
    y_pred : array-like of shape (n,)
        Predicted labels coded 0/1.
    sensitive : array-like of shape (n,)
        Protected attribute coded 0/1 (1 is privileged, as in AIF360).

    Returns
    -------
    float
        Signed gap, unprivileged minus privileged; 0 is fair.
"""


def statistical_parity_difference(y_true, y_pred, *, sensitive):
    return _hard_gap(y_true, y_pred, sensitive, "spd")


def equal_opportunity_difference(y_true, y_pred, *, sensitive):
    return _hard_gap(y_true, y_pred, sensitive, "eod")


def average_odds_difference(y_true, y_pred, *, sensitive):
    return _hard_gap(y_true, y_pred, sensitive, "aod")


statistical_parity_difference.__doc__ = (
    "P(ŷ=1 | A=0) − P(ŷ=1 | A=1), as AIF360's ``statistical_parity_difference``.\n"
    + _SHARED_PARAMETERS
)
equal_opportunity_difference.__doc__ = (
    "TPR(A=0) − TPR(A=1), as AIF360's ``equal_opportunity_difference``.\n"
    + _SHARED_PARAMETERS
)
average_odds_difference.__doc__ = (
    "½[(FPR(A=0) − FPR(A=1)) + (TPR(A=0) − TPR(A=1))], as AIF360's "
    "``average_odds_difference``.\n" + _SHARED_PARAMETERS
)


def phi_score(y_true, y_pred, *, sensitive, bias_metric="spd", epsilon=0.05):
    """The objective Φ: balanced accuracy if ``|bias| < epsilon``, else 0.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        True labels coded 0/1.
    y_pred : array-like of shape (n,)
        Predicted labels coded 0/1.
    sensitive : array-like of shape (n,)
        Protected attribute coded 0/1 (1 is privileged).
    bias_metric : {"spd", "eod", "aod"}, default="spd"
        The bias measure that must stay within the tolerance.
    epsilon : float, default=0.05
        The tolerance on the absolute bias.

    Returns
    -------
    float
    """
    _check_bias_metric(bias_metric)
    y_true, y_pred, sensitive = _as_binary_arrays(y_true, y_pred, sensitive)
    if abs(bias_gap(y_true, y_pred, sensitive, bias_metric)) >= epsilon:
        return 0.0
    return float(balanced_accuracy_score(y_true, y_pred))


def balanced_accuracy_rows(y_true, y_pred):
    """Balanced accuracy of each row of a stack of 0/1 predictions.

    Parameters
    ----------
    y_true : ndarray of shape (n,) or broadcastable to ``y_pred``
        True labels coded 0/1.
    y_pred : ndarray of shape (..., n)
        Predictions coded 0/1.

    Returns
    -------
    ndarray of shape (...)
        Mean of the true positive and the true negative rates.
    """
    y_true = y_true * 1.0
    return 0.5 * (_rate(y_pred, y_true) + 1.0 - _rate(y_pred, 1.0 - y_true))
