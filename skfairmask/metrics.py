"""Group-fairness measures: their registry, and the gaps on predictions, stacks and probabilities.

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

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.utils.multiclass import type_of_target

__all__ = [
    "BIAS_METRICS",
    "BiasMeasure",
    "check_bias_metric",
    "average_odds_difference",
    "bias_gap",
    "equal_opportunity_difference",
    "group_index",
    "mean_class_gap",
    "multiclass_gap",
    "coded_arrays",
    "one_hot_groups",
    "statistical_parity_difference",
]


def _where(condition, a, b):
    """``np.where`` or ``torch.where``, whichever fits the operands."""
    if isinstance(condition, (np.ndarray, np.generic, bool)):
        return np.where(condition, a, b)
    import torch

    return torch.where(condition, a, b)


def _rate(y_pred, where):
    """Mean of ``y_pred`` over the rows selected by the 0/1 vector ``where``; NaN if none is.

    The division never sees 0/0, so that a missing group gives NaN in the
    value but finite gradients (NaN · 0 would poison every gradient in torch).
    """
    count = where.sum(-1)
    empty = count == 0
    return _where(empty, np.nan, (y_pred * where).sum(-1) / (count + empty))


@dataclass(frozen=True)
class BiasMeasure:
    """A group-fairness measure, described by the rates it compares.

    The bias is ``Σ weight · (rate_unprivileged − rate_privileged)`` over the
    measure's ``terms``, where each rate is the share of favourable
    predictions among a group's rows that carry the term's label (``None``:
    all the group's rows). Every caller reads these facts from here: the
    gaps (:func:`bias_gap`), their confidence bounds
    (:mod:`skfairmask.objective`), the input checks (which (group, label)
    cells must hold rows) and the reports (the display name).

    Attributes
    ----------
    name : str
        The key in :data:`BIAS_METRICS`, and the value of ``bias_metric``.
    display_name : str
        The name a report prints.
    definition : str
        The formula, for docs and reports.
    terms : tuple of (int or None, float)
        ``(label, weight)`` pairs.
    multiclass : bool
        Whether the measure is defined for more than two classes (one class
        against the rest, averaged over classes; :func:`mean_class_gap`).
    """

    name: str
    display_name: str
    definition: str
    terms: tuple
    multiclass: bool

    @property
    def needed_labels(self):
        """The labels every group must have rows of for the measure to be defined."""
        return sorted({label for label, _ in self.terms if label is not None})

    def gap(self, y_pred, y_true, unpriv, priv):
        """The signed gap between two sets of rows, given as 0/1 (or one-hot) membership weights."""
        total = 0.0
        for label, weight in self.terms:
            condition = 1.0 if label is None else (y_true if label == 1 else 1 - y_true)
            total = total + weight * (_rate(y_pred, unpriv * condition) - _rate(y_pred, priv * condition))
        return total


#: The bias measures by name. Adding a measure is adding one entry.
BIAS_METRICS = {
    measure.name: measure
    for measure in (
        BiasMeasure("spd", "statistical parity difference", "P(ŷ=1 | A=0) − P(ŷ=1 | A=1)",
                    terms=((None, 1.0),), multiclass=True),
        BiasMeasure("eod", "equal opportunity difference", "TPR(A=0) − TPR(A=1)",
                    terms=((1, 1.0),), multiclass=True),
        BiasMeasure("aod", "average odds difference",
                    "½[(FPR(A=0) − FPR(A=1)) + (TPR(A=0) − TPR(A=1))]",
                    terms=((0, 0.5), (1, 0.5)), multiclass=False),
    )
}


def bias_gap(y_true, y_pred, sensitive, bias_metric):
    """Signed bias of ``y_pred`` for numpy arrays or torch tensors alike.

    Two groups (``sensitive`` of the shape of ``y_true``, coded 0/1): the gap
    is the unprivileged group's rate minus the privileged group's, exactly as
    AIF360 computes it. Several groups (``sensitive`` one-hot, with a last axis
    of one column per group): each group is compared with all the other rows
    together, and the gap of largest magnitude is returned, with its sign
    (the group's rate minus the rest's). Groups missing from the rows are
    skipped.

    Parameters
    ----------
    y_true : array or tensor of shape (..., n)
        True labels coded 0/1 (1 is the favourable label).
    y_pred : array or tensor of shape (..., n)
        Hard 0/1 predictions, a stack of them (extra leading axes), or
        probabilities of the favourable label (which gives the soft surrogate
        of the measure).
    sensitive : array or tensor of shape (..., n) or (..., n, n_groups)
        Protected attribute coded 0/1 (1 is privileged), or one-hot groups.
    bias_metric : {"spd", "eod", "aod"}
        Which measure.

    Returns
    -------
    gap : float, array or tensor of the shape of ``y_pred`` less its last axis
    """
    y_true, y_pred, measure = y_true * 1.0, y_pred * 1.0, BIAS_METRICS[bias_metric]
    if sensitive.ndim == y_true.ndim:
        priv = sensitive * 1.0
        return measure.gap(y_pred, y_true, 1 - priv, priv)
    # One group against the rest, for every group at once: groups on a new first axis,
    # and a singleton axis for each axis that y_pred stacks on top of y_true.
    members = sensitive * 1.0
    members = members.movedim(-1, 0) if hasattr(members, "movedim") else np.moveaxis(members, -1, 0)
    members = members.reshape((members.shape[0],) + (1,) * (y_pred.ndim - y_true.ndim) + tuple(y_true.shape))
    return _largest_gap(measure.gap(y_pred, y_true, members, 1 - members))


def _largest_gap(gaps):
    """Along the first axis, the gap of largest magnitude; NaN gaps (missing groups) never win."""
    if isinstance(gaps, np.ndarray):
        index = np.nan_to_num(np.abs(gaps), nan=-1.0).argmax(0)
        return np.take_along_axis(gaps, index[None], 0)[0]
    index = gaps.abs().nan_to_num(nan=-1.0).argmax(0)
    return gaps.gather(0, index.unsqueeze(0)).squeeze(0)


def one_hot_groups(labels):
    """One column per distinct group, 1 where a row belongs to it.

    Parameters
    ----------
    labels : array-like of shape (n,) or (n, k)
        One group label per row, or ``k`` attributes per row whose
        combinations are the groups (intersectional groups).

    Returns
    -------
    ndarray of shape (n, n_groups), float
    """
    labels = np.asarray(labels)
    if labels.ndim == 2:
        codes = pd.MultiIndex.from_arrays([labels[:, j] for j in range(labels.shape[1])]).factorize()[0]
    else:
        codes = pd.factorize(labels)[0]
    return np.eye(codes.max() + 1)[codes]


def group_index(sensitive):
    """Each row's group as an integer: the 0/1 code itself, or the one-hot column."""
    return sensitive if sensitive.ndim == 1 else sensitive.argmax(-1)


def group_label_strata(sensitive, y):
    """One integer per (group, label) cell, for numpy arrays or torch tensors: what splits stratify by.

    ``y`` holds class codes 0..k-1 (0/1 when binary); the code is ``group · k + label``.
    """
    return group_index(sensitive) * (int(y.max()) + 1) + y


def coded_arrays(y_true, y_pred, sensitive):
    """Checked 0/1 float labels and predictions, and the groups coded for :func:`bias_gap`.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Coded 0/1.
    sensitive : array-like of shape (n,) or (n, k)
        Two groups coded 0/1 (1 privileged), several group labels, or ``k``
        attributes whose combinations are the groups.

    Returns
    -------
    y_true, y_pred : ndarray of shape (n,), float
    sensitive : ndarray of shape (n,) (0/1) or (n, n_groups) (one-hot)

    Raises
    ------
    ValueError
        If a vector is not coded 0/1, the lengths differ, or there is one group.
    """
    names = ("y_true", "y_pred")
    y_true, y_pred = (np.asarray(a, dtype=float).reshape(-1) for a in (y_true, y_pred))
    for name, a in zip(names, (y_true, y_pred)):
        if not np.isin(a, (0.0, 1.0)).all():
            raise ValueError(f"{name} must be coded 0/1, got values {np.unique(a)[:5]}.")
    sensitive = np.asarray(sensitive)
    lengths = {"y_true": len(y_true), "y_pred": len(y_pred), "sensitive": len(sensitive)}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"y_true, y_pred and sensitive must have the same length, got {lengths}.")
    n_groups = len(pd.unique(sensitive)) if sensitive.ndim == 1 else one_hot_groups(sensitive).shape[1]
    if n_groups < 2:
        raise ValueError("sensitive must contain at least two groups, got a single group.")
    if sensitive.ndim == 1 and n_groups == 2:
        if not np.isin(sensitive, (0, 1)).all():
            raise ValueError(f"sensitive must be coded 0/1 (1 = privileged), got values {pd.unique(sensitive)}.")
        return y_true, y_pred, sensitive.astype(float)
    return y_true, y_pred, one_hot_groups(sensitive)


def check_bias_metric(bias_metric, *, multiclass=False):
    """The :class:`BiasMeasure` named ``bias_metric``; a ValueError naming the choices otherwise.

    Parameters
    ----------
    bias_metric : str
    multiclass : bool, default=False
        Also require the measure to be defined for more than two classes.

    Returns
    -------
    BiasMeasure
    """
    if bias_metric not in BIAS_METRICS:
        raise ValueError(f"bias_metric must be one of {sorted(BIAS_METRICS)}, got {bias_metric!r}.")
    measure = BIAS_METRICS[bias_metric]
    if multiclass and not measure.multiclass:
        defined = sorted(name for name, m in BIAS_METRICS.items() if m.multiclass)
        raise ValueError(f"bias_metric={bias_metric!r} is not defined for more than two classes; use one "
                         f"of {defined}.")
    return measure


def is_multiclass(y_true, y_pred):
    """More than two discrete labels among the true and predicted ones (not scores)."""
    labels = np.concatenate([np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)])
    return type_of_target(labels) == "multiclass"


def multiclass_gap(y_true, y_pred, *, sensitive, bias_metric="spd"):
    """Bias of a multi-class classifier between two domains: the mean per-class gap.

    For each class ``c``, SPD compares ``P(ŷ = c)`` and EOD compares
    ``P(ŷ = c | y = c)`` between the domain coded 0 and the domain coded 1;
    the bias is the mean over classes of the absolute gaps (the signed gaps
    of SPD always sum to zero). A class missing from a domain's true labels
    is left out of EOD's mean. Average odds is not defined here.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Class labels, any number of classes.
    sensitive : array-like of shape (n,)
        The domain, coded 0/1 (for CIFAR-10S: 0 gray, 1 colour).
    bias_metric : {"spd", "eod"}, default="spd"

    Returns
    -------
    float
        In [0, 1]; 0 is fair.
    """
    check_bias_metric(bias_metric, multiclass=True)
    y_true, y_pred, sensitive = (np.asarray(a).reshape(-1) for a in (y_true, y_pred, sensitive))
    if not (len(y_true) == len(y_pred) == len(sensitive)):
        raise ValueError("y_true, y_pred and sensitive must have the same length.")
    if not np.isin(sensitive, (0, 1)).all() or len(np.unique(sensitive)) != 2:
        raise ValueError("sensitive must hold two domains coded 0/1 for a multi-class bias.")
    classes, codes = np.unique(np.concatenate([y_true, y_pred]), return_inverse=True)
    true_codes, predicted_codes = codes[: len(y_true)], codes[len(y_true):]
    predicted = np.eye(len(classes))[predicted_codes]
    return float(mean_class_gap(true_codes, predicted, sensitive.astype(float), bias_metric))


def _one_hot(codes, n_classes):
    if isinstance(codes, np.ndarray):
        return np.eye(n_classes)[codes.astype(int)]
    import torch

    return torch.nn.functional.one_hot(codes.long(), n_classes).to(torch.float32)


def mean_class_gap(y_true, y_score, sensitive, bias_metric):
    """Mean over classes of the absolute per-class gap between two domains, numpy or torch.

    Each class ``c`` is a binary problem, "predicted ``c``" against "is
    ``c``", whose gap :func:`bias_gap` measures; their absolute values are
    averaged, leaving out classes absent from a domain (EOD). With one-hot
    predictions this is :func:`multiclass_gap`; with softmax probabilities it
    is its differentiable surrogate.

    Parameters
    ----------
    y_true : array or tensor of shape (..., n)
        Class codes 0..k-1.
    y_score : array or tensor of shape (..., n, k)
        One-hot predictions or class probabilities; extra leading axes stack
        several predictions of the same rows.
    sensitive : array or tensor of shape (..., n)
        The domain, coded 0/1.
    bias_metric : {"spd", "eod"}

    Returns
    -------
    float array or tensor of shape (...)
    """
    n_classes = y_score.shape[-1]
    move = (lambda a: a.movedim(-1, -2)) if hasattr(y_score, "movedim") else (lambda a: np.swapaxes(a, -1, -2))
    actual = move(_one_hot(y_true, n_classes))                      # (..., k, n)
    domains = sensitive[..., None, :] * 1.0                           # (..., 1, n), broadcasts
    gaps = bias_gap(actual, move(y_score), domains, bias_metric)      # (..., k)
    if isinstance(gaps, np.ndarray):
        return np.nanmean(np.abs(gaps), axis=-1)
    return gaps.abs().nanmean(-1)


def _hard_gap(y_true, y_pred, sensitive, bias_metric):
    if is_multiclass(y_true, y_pred):
        return multiclass_gap(y_true, y_pred, sensitive=sensitive, bias_metric=bias_metric)
    y_true, y_pred, sensitive = coded_arrays(y_true, y_pred, sensitive)
    return float(bias_gap(y_true, y_pred, sensitive, bias_metric))


_SHARED_PARAMETERS = """
    Parameters
    ----------
    y_true : array-like of shape (n,)
        True labels coded 0/1 (1 is the favourable label).
    y_pred : array-like of shape (n,)
        Predicted labels coded 0/1.
    sensitive : array-like of shape (n,) or (n, k)
        Protected attribute coded 0/1 (1 is privileged, as in AIF360); or
        three or more group labels; or ``k`` attributes whose combinations
        are the groups.

    Returns
    -------
    float
        Signed gap: unprivileged minus privileged for two groups, exactly as
        AIF360. For more groups, each group against all other rows, and the
        gap of largest magnitude (that group's rate minus the rest's).
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


def balanced_accuracy_classes(y_true, y_onehot):
    """Balanced accuracy (mean per-class recall) of each stacked multi-class prediction.

    Parameters
    ----------
    y_true : ndarray of shape (..., n)
        Class codes 0..k-1.
    y_onehot : ndarray of shape (..., n, k)
        One-hot predictions.

    Returns
    -------
    ndarray of shape (...)
        Classes absent from ``y_true`` are left out of the mean.
    """
    actual = np.swapaxes(_one_hot(y_true, y_onehot.shape[-1]), -1, -2)
    return np.nanmean(_rate(np.swapaxes(y_onehot, -1, -2), actual), axis=-1)
