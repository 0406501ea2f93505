"""Choosing the decision threshold that maximises Φ on validation data.

Candidate thresholds and bootstrap resamples are scored together on
``(thresholds, resamples, rows)`` arrays, a block of thresholds at a time, so
that memory stays bounded however many rows and resamples there are.
"""

from dataclasses import dataclass

import numpy as np

from .metrics import balanced_accuracy_classes, balanced_accuracy_rows, bias_gap, mean_class_gap

__all__ = ["ThresholdChoice", "candidate_thresholds", "score_argmax", "tune_threshold"]

#: Most entries of one ``(thresholds, resamples, rows)`` block of predictions.
BLOCK_ENTRIES = 2_000_000


@dataclass(frozen=True)
class ThresholdChoice:
    """The outcome of :func:`tune_threshold`.

    Attributes
    ----------
    threshold : float or None
        Predict the favourable label when its probability is above this;
        None for a multi-class model, which predicts the most probable class.
    phi : float
        Mean Φ of that threshold over the resamples, at the strict tolerance.
    balanced_accuracy : float
        Mean balanced accuracy over the resamples.
    bias : float
        Mean signed bias over the resamples.
    tolerance_met : bool
        Whether a threshold kept ``|bias| < epsilon - margin`` with a balanced
        accuracy above 0.5. A constant prediction is always within tolerance
        (Φ = 0.5), so a model that cannot beat it has not been made fair.
    """

    threshold: float
    phi: float
    balanced_accuracy: float
    bias: float
    tolerance_met: bool

    @property
    def rank(self):
        """What choices are compared by: Φ, or ``-|bias|`` where Φ is 0.

        A binary model always has a fair threshold (a constant prediction),
        so its Φ is positive and this is Φ. A multi-class model has no
        threshold to move and may be unfair everywhere; the least biased
        choice then ranks first.
        """
        return self.phi if self.phi > 0 else -abs(self.bias)


def candidate_thresholds(proba, n_candidates=200):
    """Thresholds between neighbouring quantiles of ``proba``.

    Taking midpoints keeps each threshold off the scores themselves, so that
    ``proba > threshold`` does not hinge on float ties.

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
    return np.concatenate([[edges[0] - 1e-6], inner, [edges[-1]]])


def _resamples(n, n_bootstrap, random_state):
    """Row indices of each bootstrap resample, shape (b, n); the rows as they are if 0."""
    rng = np.random.default_rng(random_state)
    return rng.integers(0, n, size=(n_bootstrap, n)) if n_bootstrap else np.arange(n)[None]


def tune_threshold(
    y_true,
    proba,
    sensitive,
    *,
    bias_metric="spd",
    epsilon=0.05,
    margin=0.01,
    n_bootstrap=5,
    n_candidates=200,
    random_state=None,
):
    """Pick the threshold with the best mean Φ over bootstrap resamples.

    The tolerance is tightened to ``epsilon - margin``, and Φ is averaged over
    ``n_bootstrap`` resamples of the rows, so that the chosen threshold keeps
    its fairness on data it has not seen rather than sitting on the edge.

    Parameters
    ----------
    y_true, sensitive : ndarray of shape (n,)
        Labels and protected attribute, coded 0/1.
    proba : ndarray of shape (n,)
        Probabilities of the favourable label.
    bias_metric : {"spd", "eod", "aod"}, default="spd"
    epsilon : float, default=0.05
        The tolerance on ``|bias|`` of the objective Φ.
    margin : float, default=0.01
        How much stricter than ``epsilon`` the choice is.
    n_bootstrap : int, default=5
        Resamples to average over; 0 scores the rows as they are.
    n_candidates : int, default=200
        Number of candidate thresholds.
    random_state : int, numpy Generator or None
        Seeds the resampling.

    Returns
    -------
    ThresholdChoice
    """
    y_true = np.asarray(y_true, dtype=float)
    sensitive = np.asarray(sensitive, dtype=float)
    proba = np.asarray(proba, dtype=float)
    thresholds = candidate_thresholds(proba, n_candidates)

    rows = _resamples(len(y_true), n_bootstrap, random_state)
    y_rs, s_rs, p_rs = y_true[rows], sensitive[rows], proba[rows]       # (b, n)
    block = max(1, BLOCK_ENTRIES // rows.size)
    bias, bacc = [], []
    for start in range(0, len(thresholds), block):
        predictions = p_rs[None] > thresholds[start:start + block, None, None]  # (block, b, n)
        bias.append(bias_gap(y_rs, predictions, s_rs, bias_metric))     # (block, b)
        bacc.append(balanced_accuracy_rows(y_rs, predictions))
    bias, bacc = np.concatenate(bias), np.concatenate(bacc)             # (k, b)
    # A resample may miss a stratum entirely (NaN rate): count it as unfair.
    bias = np.nan_to_num(bias, nan=1.0)
    phi = np.where(np.abs(bias) < epsilon - margin, bacc, 0.0).mean(axis=1)

    best = int(np.argmax(phi))
    return ThresholdChoice(
        threshold=float(thresholds[best]),
        phi=float(phi[best]),
        balanced_accuracy=float(np.nanmean(bacc[best])),
        bias=float(bias[best].mean()),
        tolerance_met=bool(phi[best] > 0.5),
    )


def score_argmax(y_true, proba, sensitive, *, bias_metric="spd", epsilon=0.05, margin=0.01,
                 n_bootstrap=5, random_state=None):
    """Φ of a multi-class model's most-probable-class predictions, as :func:`tune_threshold` scores.

    There is no threshold to choose; the bias is the mean absolute per-class
    gap (:func:`~skfairmask.metrics.mean_class_gap`), and Φ is averaged over
    the same bootstrap resamples at the tolerance ``epsilon - margin``.

    Parameters
    ----------
    y_true, sensitive : ndarray of shape (n,)
        Class codes 0..k-1 and the domain coded 0/1.
    proba : ndarray of shape (n, k)
    bias_metric : {"spd", "eod"}, default="spd"
    epsilon, margin : float
    n_bootstrap : int, default=5
    random_state : int, numpy Generator or None

    Returns
    -------
    ThresholdChoice
        With ``threshold=None``.
    """
    y_true = np.asarray(y_true).astype(int)
    sensitive = np.asarray(sensitive, dtype=float)
    onehot = np.eye(proba.shape[1])[np.asarray(proba).argmax(1)]
    rows = _resamples(len(y_true), n_bootstrap, random_state)
    bias = np.nan_to_num(mean_class_gap(y_true[rows], onehot[rows], sensitive[rows], bias_metric), nan=1.0)
    bacc = balanced_accuracy_classes(y_true[rows], onehot[rows])
    phi = np.where(bias < epsilon - margin, bacc, 0.0).mean()
    chance = 1.0 / proba.shape[1]
    return ThresholdChoice(threshold=None, phi=float(phi), balanced_accuracy=float(bacc.mean()),
                           bias=float(bias.mean()), tolerance_met=bool(phi > chance))
