"""A verdict on held-out rows: is a model fair at a tolerance with a stated confidence, and better than a constant?

A fit certifies its model on its own safety rows; an audit asks the same of
any model's predictions on rows the user holds out, with the same fairness
objective (:class:`~skfairmask.objective.FairnessObjective`). The predictions
are one candidate, tested once, so the bounds hold at the confidence stated.
"""

from dataclasses import dataclass

import numpy as np

from ._bounds import exact_interval
from .objective import DEFAULT_CONFIDENCE, FairnessObjective

__all__ = ["Verdict", "audit_predictions", "group_rates"]


@dataclass(frozen=True)
class Verdict:
    """What an audit concludes.

    Attributes
    ----------
    fair : bool
        The upper bound on ``|bias|`` is under ``epsilon``.
    better_than_constant : bool
        The lower bound on balanced accuracy is above 0.5, what predicting
        one class for everyone scores.
    constant : bool
        The model predicted one class for every row.
    bias, bias_interval, abs_bias_bound : float, tuple of float, float
        The estimate, its two-sided interval, and the upper bound on ``|bias|``.
    balanced_accuracy, ba_interval : float, tuple of float
    bias_metric, epsilon, confidence : str, float, float
    n_rows : int
    """

    fair: bool
    better_than_constant: bool
    constant: bool
    bias: float
    bias_interval: tuple
    abs_bias_bound: float
    balanced_accuracy: float
    ba_interval: tuple
    bias_metric: str
    epsilon: float
    confidence: float
    n_rows: int

    @property
    def passed(self):
        """Fair at the tolerance and better than a constant, both with the confidence."""
        return self.fair and self.better_than_constant

    def sentence(self):
        """The verdict in plain words."""
        level = f"with {self.confidence:.0%} confidence, on these {self.n_rows} rows"
        measure = self.bias_metric.upper()
        if self.constant:
            return (f"Not a usable model: it predicts the same class for everyone. That is fair ({measure} = 0), "
                    "and no better than a coin.")
        fairness = (f"fair at ε = {self.epsilon}: |{measure}| < {self.abs_bias_bound:.3f} {level}" if self.fair
                    else f"not shown fair at ε = {self.epsilon}: |{measure}| may reach {self.abs_bias_bound:.3f} "
                         f"{level}")
        low, high = self.ba_interval
        accuracy = (f"better than a constant prediction (balanced accuracy {self.balanced_accuracy:.3f}, "
                    f"interval {low:.3f}–{high:.3f})" if self.better_than_constant else
                    f"not shown better than a constant prediction (balanced accuracy interval {low:.3f}–{high:.3f} "
                    "reaches 0.5)")
        return f"The model is {fairness}; it is {accuracy}."

    def summary(self):
        """The verdict as a plain dict (for ``metrics.json``)."""
        return {"passed": self.passed, "fair": self.fair, "better_than_constant": self.better_than_constant,
                "constant": self.constant, "bias_metric": self.bias_metric, "epsilon": self.epsilon,
                "confidence": self.confidence, "bias": self.bias, "bias_interval": list(self.bias_interval),
                "abs_bias_bound": self.abs_bias_bound, "balanced_accuracy": self.balanced_accuracy,
                "ba_interval": list(self.ba_interval), "n_rows": self.n_rows, "sentence": self.sentence()}


def audit_predictions(y, predictions, sensitive, *, bias_metric="spd", epsilon=0.05, confidence=DEFAULT_CONFIDENCE):
    """The verdict on one model's 0/1 predictions of held-out rows.

    Parameters
    ----------
    y, predictions : array-like of shape (n,)
        Labels and predictions coded 0/1 (1 favourable).
    sensitive : array-like of shape (n,) or (n, n_groups)
        Coded as :func:`~skfairmask._validation.check_sensitive` returns it.
    bias_metric : str, default="spd"
    epsilon : float, default=0.05
    confidence : float, default=0.80

    Returns
    -------
    Verdict
    """
    objective = FairnessObjective(bias_metric=bias_metric, epsilon=epsilon, confidence=confidence)
    predictions = np.asarray(predictions, dtype=float)
    constant = len(np.unique(predictions)) == 1
    evaluation = objective.evaluate_predictions(np.asarray(y).astype(int), predictions, sensitive)
    if constant:  # one class for everyone: exactly fair, exactly chance, wherever it is applied
        bias, bias_interval, bound, balanced, ba_interval = 0.0, (0.0, 0.0), 0.0, 0.5, (0.5, 0.5)
    else:
        bias, bound = float(evaluation.bias[0]), float(evaluation.abs_bias_upper[0])
        bias_interval = (float(evaluation.bias_lower[0]), float(evaluation.bias_upper[0]))
        balanced = float(evaluation.balanced_accuracy[0])
        ba_interval = (float(evaluation.ba_lower[0]), float(evaluation.ba_upper[0]))
    return Verdict(fair=bool(bound < epsilon), better_than_constant=bool(ba_interval[0] > 0.5), constant=constant,
                   bias=bias, bias_interval=bias_interval, abs_bias_bound=bound, balanced_accuracy=balanced,
                   ba_interval=ba_interval, bias_metric=bias_metric, epsilon=epsilon, confidence=confidence,
                   n_rows=len(predictions))


def group_rates(successes, trials, confidence=DEFAULT_CONFIDENCE):
    """A rate with its two-sided exact interval at ``confidence``: ``(rate, low, high)``, NaN without rows."""
    rate, low, high = exact_interval(successes, trials, (1 - confidence) / 2)
    return float(rate), float(low) if trials else np.nan, float(high) if trials else np.nan
