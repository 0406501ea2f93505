"""The methods skfairmask is measured against, each fitted on validation and applied to test.

Every function takes the base network, the protocol split, the bias measure,
ε and a seed, and returns the test predictions (0/1). The post-processors read
the base network's validation and test scores; ``exponentiated_gradient``
retrains a model on the train split, as in-processing does.
"""

import numpy as np
from aif360.algorithms.postprocessing import (
    CalibratedEqOddsPostprocessing,
    EqOddsPostprocessing,
    RejectOptionClassification,
)
from aif360.metrics import BinaryLabelDatasetMetric, ClassificationMetric
from fairlearn.postprocessing import ThresholdOptimizer
from fairlearn.reductions import DemographicParity, EqualizedOdds, ExponentiatedGradient, TruePositiveRateParity
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import TunedThresholdClassifierCV
from sklearn.neural_network import MLPClassifier

from skfairmask.datasets import aif360_compatible_pandas, to_binary_label_dataset

_GROUPS = dict(unprivileged_groups=[{"sensitive": 0}], privileged_groups=[{"sensitive": 1}])
_ROC_METRIC = {"spd": "Statistical parity difference", "eod": "Equal opportunity difference",
               "aod": "Average odds difference"}
# CalibratedEqOdds can equalise false negatives (EOD's true positive rate),
# false positives, or a weighted mix; it has no statistical-parity mode.
_CALIBRATED_COST = {"spd": "weighted", "eod": "fnr", "aod": "weighted"}
_FAIRLEARN_CONSTRAINT = {"spd": "demographic_parity", "eod": "true_positive_rate_parity",
                         "aod": "equalized_odds"}
_REDUCTION = {"spd": DemographicParity, "eod": TruePositiveRateParity, "aod": EqualizedOdds}


def _scores(net, X):
    return net.predict_proba(X)[:, 1].astype(np.float64)


def _datasets(net, part, threshold=0.5):
    """The true and the predicted ``BinaryLabelDataset`` of one split part."""
    X, y, A = part
    scores = _scores(net, X)
    true = to_binary_label_dataset(X, y, A)
    predicted = to_binary_label_dataset(X, (scores > threshold).astype(int), A, scores=scores)
    return true, predicted


def balanced_accuracy_threshold(net, split, metric, epsilon, seed):
    """The base network at the threshold that maximises validation balanced accuracy."""
    (Xv, yv, _), (Xt, _, _) = split.validation, split.test
    # One "split" whose both halves are all of validation: the frozen network
    # is not refitted, so the threshold is scored on every validation row.
    everything = np.arange(len(yv))
    tuned = TunedThresholdClassifierCV(FrozenEstimator(net), scoring="balanced_accuracy",
                                       cv=[(everything, everything)], refit=False)
    tuned.fit(Xv, yv)
    return tuned.predict(Xt)


def _forget_aif360_metrics():
    """Empty the caches of AIF360's ``@memoize``-d metric methods.

    Each cache is module-level and keyed by the metric object, so it keeps every
    metric ever built, datasets included: Reject Option Classification builds
    hundreds per fit, and a benchmark process grew by about 90 MB per COMPAS fit
    until the machine ran out of memory. The cached values are never reused
    across fits (each fit builds new metric objects), so emptying them changes
    no result.
    """
    for metric_class in {*BinaryLabelDatasetMetric.__mro__, *ClassificationMetric.__mro__}:
        for method in vars(metric_class).values():
            for cell in getattr(method, "__closure__", None) or ():
                if isinstance(cell.cell_contents, dict):
                    cell.cell_contents.clear()


def _aif360(method, net, split, seed):
    try:
        with aif360_compatible_pandas():
            true, predicted = _datasets(net, split.validation)
            method.fit(true, predicted)
            _, test_predicted = _datasets(net, split.test)
            return method.predict(test_predicted).labels.ravel().astype(int)
    finally:
        _forget_aif360_metrics()


def reject_option(net, split, metric, epsilon, seed):
    """AIF360's Reject Option Classification, bounded to ±ε on validation."""
    roc = RejectOptionClassification(**_GROUPS, metric_name=_ROC_METRIC[metric],
                                     metric_lb=-epsilon, metric_ub=epsilon)
    return _aif360(roc, net, split, seed)


def equalized_odds(net, split, metric, epsilon, seed):
    """AIF360's EqOddsPostprocessing on the 0.5-threshold predictions (its target is fixed)."""
    return _aif360(EqOddsPostprocessing(**_GROUPS, seed=seed), net, split, seed)


def calibrated_equalized_odds(net, split, metric, epsilon, seed):
    """AIF360's CalibratedEqOddsPostprocessing with the cost closest to the measure."""
    method = CalibratedEqOddsPostprocessing(**_GROUPS, cost_constraint=_CALIBRATED_COST[metric], seed=seed)
    return _aif360(method, net, split, seed)


class _ScoreColumn(ClassifierMixin, BaseEstimator):
    """A fitted 'classifier' whose probability is the first column of X.

    fairlearn 0.15's ThresholdOptimizer needs float64 scores under pandas 3,
    and skorch returns float32; handing it the scores as data avoids both.
    """

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        p = np.asarray(X, dtype=np.float64)[:, 0]
        return np.column_stack([1 - p, p])


def threshold_optimizer(net, split, metric, epsilon, seed):
    """fairlearn's ThresholdOptimizer on the base network's scores, for balanced accuracy."""
    (Xv, yv, Av), (Xt, _, At) = split.validation, split.test
    optimizer = ThresholdOptimizer(
        estimator=_ScoreColumn().fit(None, None), constraints=_FAIRLEARN_CONSTRAINT[metric],
        objective="balanced_accuracy_score", prefit=True, predict_method="predict_proba",
    )
    optimizer.fit(_scores(net, Xv)[:, None], yv, sensitive_features=Av)
    return optimizer.predict(_scores(net, Xt)[:, None], sensitive_features=At, random_state=seed)


#: ExponentiatedGradient's learner: an MLP (it needs ``sample_weight``, which
#: skorch lacks) small enough to refit 20 times on Adult in about a minute.
EXPGRAD_ITERATIONS = 20


def exponentiated_gradient(net, split, metric, epsilon, seed):
    """fairlearn's ExponentiatedGradient, retrained on the train split (in-processing).

    The constraint's bound is ``epsilon``. The base network is not used.
    """
    (X, y, A), (Xt, _, _) = split.train, split.test
    learner = MLPClassifier(hidden_layer_sizes=(32, 32), max_iter=30, random_state=seed)
    reduction = ExponentiatedGradient(learner, _REDUCTION[metric](difference_bound=epsilon),
                                      max_iter=EXPGRAD_ITERATIONS)
    reduction.fit(X, y, sensitive_features=A)
    return reduction.predict(Xt, random_state=seed)


#: name → (function, needs the protected attribute at prediction time, retrains).
PEERS = {
    "base@balanced_accuracy": (balanced_accuracy_threshold, False, False),
    "aif360:reject_option": (reject_option, True, False),
    "aif360:eq_odds": (equalized_odds, True, False),
    "aif360:calibrated_eq_odds": (calibrated_equalized_odds, True, False),
    "fairlearn:threshold_optimizer": (threshold_optimizer, True, False),
    "fairlearn:exponentiated_gradient": (exponentiated_gradient, False, True),
}
