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
for all candidates at once (:func:`certify_results`).
"""

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from . import _outputs
from ._rows import Rows
from .objective import Certificate, Evaluation

__all__ = ["DebiasData", "Selection", "certify_results", "evaluate_network", "every_row_band", "selection_summary"]


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

    Two routes, decided before any candidate is evaluated:

    * **on every row**, where each result's candidates are thresholds per
      group on a score that learnt nothing from the rows (its family says
      ``per_group``) and the uniform band of
      :meth:`~skfairmask.objective.FairnessObjective.uniform_widths`, which
      depends on the row counts alone, is narrower than ``epsilon``:
      :meth:`~skfairmask.objective.FairnessObjective.certify_uniform`;
    * otherwise **on the safety rows**: each result's candidates are estimated
      on the rows its choice may read (the selection rows, and the training
      rows too if nothing was learnt from them), and the ladder of
      :meth:`~skfairmask.objective.FairnessObjective.certify` runs over all
      of them.

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
    widths = every_row_band(results, data, objective)
    if widths is not None:
        plain = dataclasses.replace(objective, confidence=None)
        evaluated = [evaluate_network(result.network, data.every_row, plain, family=result.family)
                     for result in results.values()]
        certificate = objective.certify_uniform(Evaluation.concatenate([e for e, _ in evaluated]), widths)
        return _chosen(results, [t for _, t in evaluated], [len(e) for e, _ in evaluated], certificate)
    selections, safeties, thresholds = [], [], []
    for result in results.values():
        rows = data.choice_rows(result.fitted_to_train)
        selection, candidates = evaluate_network(result.network, rows, objective, family=result.family,
                                                 future_ratio=data.future_ratio(rows))
        safety, _ = evaluate_network(result.network, data.safety, objective, family=result.family,
                                     thresholds=candidates)
        selections.append(selection)
        safeties.append(safety)
        thresholds.append(candidates)
    certificate = objective.certify(Evaluation.concatenate(selections), Evaluation.concatenate(safeties))
    return _chosen(results, thresholds, [len(s) for s in selections], certificate)


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
    per_group = all(result.family is not None and getattr(result.family, "per_group", False)
                    and not result.fitted_to_train for result in results.values())
    if not per_group or objective.confidence is None or data.safety.sensitive.dim() != 1:
        return None
    rows = data.every_row
    widths = objective.uniform_widths(rows.y.cpu().numpy(), rows.sensitive.cpu().numpy())
    return widths if widths[0] < objective.epsilon else None


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
