"""Decision rules as counts: how many rows of each (group, label) cell a rule predicts favourable.

Every measure, bound and balanced accuracy that the fairness objective needs
is a function of these counts, so a family of thousands of candidate rules
(thresholds on one or several score vectors) costs one sort per score
vector, not one pass over the rows per rule.

A *cell* is a (group, label) pair: ``positive[..., g, y]`` counts the rows of
group ``g`` and label ``y`` that a rule predicts favourable, and
``total[..., g, y]`` counts the rows of that cell.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["CONSTANT_THRESHOLDS", "CellCounts", "candidate_thresholds", "is_constant", "prediction_counts", "resample_weights", "threshold_counts"]

#: Candidate thresholds per score vector when the threshold is tuned.
N_CANDIDATES = 200


@dataclass(frozen=True)
class CellCounts:
    """Favourable predictions and rows per (group, label) cell, for a stack of rules.

    Attributes
    ----------
    positive : ndarray of shape (..., n_groups, n_labels)
        Rows predicted favourable, per rule (leading axes) and cell.
    total : ndarray, broadcastable to ``positive``
        Rows per cell.
    """

    positive: np.ndarray
    total: np.ndarray


#: Thresholds outside every probability: ``proba > -1`` predicts everyone favourable and ``proba > 1``
#: no one, on any rows. Their bias is exactly 0 wherever they are applied.
CONSTANT_THRESHOLDS = (-1.0, 1.0)


def is_constant(thresholds):
    """Which thresholds make a constant prediction on any rows (see :data:`CONSTANT_THRESHOLDS`)."""
    thresholds = np.asarray(thresholds)
    return (thresholds < 0) | (thresholds >= 1)


def candidate_thresholds(proba, n_candidates=N_CANDIDATES):
    """Thresholds between neighbouring quantiles of ``proba``, and both constant predictions.

    Midpoints keep each threshold off the scores themselves, so that
    ``proba > threshold`` does not hinge on float ties. The first threshold
    predicts everyone favourable and the last no one, on any rows
    (:data:`CONSTANT_THRESHOLDS`).

    Parameters
    ----------
    proba : ndarray of shape (n,)
        Probabilities of the favourable label.
    n_candidates : int, default=200
        At most this many thresholds (fewer when scores repeat).

    Returns
    -------
    ndarray of shape (k,)
    """
    edges = np.unique(np.quantile(proba, np.linspace(0.0, 1.0, n_candidates + 1)))
    inner = (edges[:-1] + edges[1:]) / 2
    everyone, no_one = CONSTANT_THRESHOLDS
    return np.concatenate([[everyone], inner, [no_one]])


def _cells(y, groups, n_groups, n_labels=2):
    """One-hot (group, label) cell of each row, shape (n, n_groups · n_labels)."""
    return np.eye(n_groups * n_labels)[groups.astype(int) * n_labels + y.astype(int)]


def resample_weights(n, n_bootstrap, random_state):
    """How often each row is drawn in each of ``n_bootstrap`` bootstrap resamples, shape (b, n)."""
    rng = np.random.default_rng(random_state)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_bootstrap).astype(float)


def threshold_counts(scores, thresholds, y, groups, n_groups, weights=None):
    """Cell counts of the rules ``scores[j] > thresholds[j, i]``.

    Parameters
    ----------
    scores : ndarray of shape (m, n)
        ``m`` score vectors over the same rows.
    thresholds : ndarray of shape (m, k)
        ``k`` thresholds for each score vector.
    y, groups : ndarray of shape (n,)
        Labels 0/1 and group indices 0..n_groups-1.
    n_groups : int
    weights : ndarray of shape (b, n), optional
        Row weights of ``b`` resamples (see :func:`resample_weights`); the
        counts then gain a leading resample axis.

    Returns
    -------
    CellCounts
        ``positive`` of shape ([b,] m, k, n_groups, 2).
    """
    cells = _cells(y, groups, n_groups)                                  # (n, C)
    weighted = cells[None] if weights is None else weights[:, :, None] * cells[None]  # (b, n, C)
    positive = []
    for row_scores, row_thresholds in zip(scores, thresholds):
        order = np.argsort(row_scores, kind="stable")
        # Weighted cell counts of the rows from position j to the end, for j = 0..n.
        from_top = np.cumsum(weighted[:, order[::-1]], axis=1)[:, ::-1]
        from_top = np.concatenate([from_top, np.zeros_like(from_top[:, :1])], axis=1)
        below = np.searchsorted(row_scores[order], row_thresholds, side="right")  # rows ≤ threshold
        positive.append(from_top[:, below])                              # (b, k, C)
    positive = np.stack(positive, axis=1).reshape(len(weighted), *thresholds.shape, n_groups, 2)
    total = weighted.sum(axis=1).reshape(len(weighted), 1, 1, n_groups, 2)
    if weights is None:
        positive, total = positive[0], total[0]
    return CellCounts(positive, total)


def prediction_counts(predictions, y, groups, n_groups, weights=None):
    """Cell counts of a stack of 0/1 predictions.

    Parameters
    ----------
    predictions : ndarray of shape (c, n)
        0/1, one rule per row of the stack.
    y, groups : ndarray of shape (n,)
    n_groups : int
    weights : ndarray of shape (b, n), optional

    Returns
    -------
    CellCounts
        ``positive`` of shape ([b,] c, n_groups, 2).
    """
    cells = _cells(y, groups, n_groups)
    if weights is None:
        return CellCounts((predictions @ cells).reshape(len(predictions), n_groups, 2),
                          cells.sum(0).reshape(1, n_groups, 2))
    positive = np.einsum("cn,bn,nk->bck", predictions, weights, cells)
    return CellCounts(positive.reshape(len(weights), len(predictions), n_groups, 2),
                      (weights @ cells).reshape(len(weights), 1, n_groups, 2))
