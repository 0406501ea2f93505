"""Output offset: shift each row's logit by how much it reads as belonging to its group.

A network's unfairness at one threshold is largely that its logits sit
higher, on average, for one group than for another. The edit subtracts
``s · g(x)`` from the favourable logit, where ``g`` is the linear read-out that
best predicts each row's group-mean logit (ridge regression on the training
rows) from the penultimate representation and, for tabular ``X``, from the
input columns; it is scaled so that ``s = 1`` removes the groups' mean gap.
The representation's part is a change of the last layer's weights; the
input's part is :attr:`~skfairmask.network.FavourableLogit.input_offset`, one
weight per input column. The model still predicts from ``X`` alone.

When the protected attribute is a column of ``X`` (AIF360's preparation keeps
it) and there are two groups, ``g`` reads that column alone, and the family
``(s, threshold)`` is exactly one threshold per group on the network's logit:
the rule that ThresholdOptimizer applies by reading the attribute at
prediction time. The family then says ``per_group``, and the final choice may
read every row under a uniform band (:func:`~skfairmask.selection.certify_results`).
When the attribute is not a column, ``g`` reads its proxies. The final choice
picks ``s`` and the threshold together, by the fairness objective.
"""

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from ..network import LastLayerInput, last_linear_layer
from ..proxies import attribute_column_positions
from ._base import StrategyNotApplicable, StrategyResult
from ._steps import all_kept

__all__ = ["OFFSET_SCALES", "OutputOffset", "offset", "quantile"]

#: The members of the family: ``s`` from slightly widening the gap (< 0) to reversing it (> 1).
OFFSET_SCALES = tuple(np.round(np.linspace(-0.5, 2.5, 61), 3))

#: Ridge penalty, relative to the mean variance of the regression's features.
RIDGE = 1e-3


class OutputOffset:
    """The family of edits ``logit − s · g(x)``, one member per scale ``s``.

    Parameters
    ----------
    network : FavourableLogit
        A binary network whose last layer is a ``torch.nn.Linear``.
    representation_weights : torch.Tensor of shape (n_hidden,)
        ``g``'s weights on the last layer's input.
    input_weights : torch.Tensor of shape (n_features,) or None
        ``g``'s weights on the input columns (tabular ``X`` only).
    members : sequence of float, default=OFFSET_SCALES
    per_group : bool, default=False
        Whether ``g`` reads one column that holds the group, and nothing else:
        every member is then one threshold per group on the network's logit.
    """

    def __init__(self, network, representation_weights, input_weights=None, members=OFFSET_SCALES,
                 per_group=False):
        layer = last_linear_layer(network)
        names = {id(p): name for name, p in network.named_parameters()}
        self.weight_name = names[id(layer.weight)]
        # The favourable logit is the last row's output (z1 − z0 for a two-logit head).
        self.row = layer.weight.shape[0] - 1
        self.representation_weights = representation_weights
        self.input_weights = input_weights
        self.members = tuple(members)
        self.per_group = per_group

    @classmethod
    @torch.no_grad()
    def fit(cls, network, rows, members=OFFSET_SCALES, group_column=None):
        """Estimate ``g`` on ``rows``: ridge regression of each row's group-mean logit on its features.

        ``group_column``, the position of a column of ``X`` that holds the
        group (two groups), makes that column ``g``'s only feature.
        """
        layer = last_linear_layer(network)
        if not isinstance(layer, nn.Linear) or layer.weight.shape[0] > 2:
            raise StrategyNotApplicable(
                "strategy='offset' needs a binary network whose last layer is a torch.nn.Linear.")
        network.eval()
        with LastLayerInput(network) as representation:
            logit = network(rows.X)
        if logit.dim() != 1:
            raise StrategyNotApplicable("strategy='offset' supports binary networks only.")
        tabular = rows.X.dim() == 2
        features = torch.cat([representation.value, rows.X], 1) if tabular else representation.value
        n_hidden = representation.value.shape[1]
        if group_column is not None:
            keep = torch.zeros(features.shape[1], dtype=torch.bool, device=features.device)
            keep[n_hidden + group_column] = True
            features = features * keep
        membership = rows.sensitive if rows.sensitive.dim() == 2 else torch.stack(
            [1 - rows.sensitive, rows.sensitive], 1)
        counts = membership.sum(0).clamp_min(1)
        gap = (membership * logit[:, None]).sum(0) / counts - logit.mean()      # each group's mean deviation
        weights = _ridge(features, membership @ gap)
        read = (features - features.mean(0)) @ weights
        read_gap = (membership * read[:, None]).sum(0) / counts
        # Scale g so that s = 1 removes the groups' mean logit gap, as far as g reproduces it.
        weights = weights * (counts * read_gap * gap).sum() / (counts * read_gap**2).sum().clamp_min(1e-12)
        return cls(network, weights[:n_hidden], weights[n_hidden:] if tabular else None, members,
                   per_group=group_column is not None)

    def _parameters(self, network, value):
        edited = dict(network.named_parameters())[self.weight_name].clone()
        edited[self.row] = edited[self.row] - value * self.representation_weights
        return {self.weight_name: edited}

    @torch.no_grad()
    def output(self, network, X, value):
        """The favourable logit of the member ``s = value`` on ``X``."""
        out = functional_call(network, self._parameters(network, value), (X,))
        return out if self.input_weights is None else out - value * (X.flatten(1) @ self.input_weights)

    @torch.no_grad()
    def apply(self, network, value):
        """Turn ``network`` into the member ``s = value``, in place."""
        edited = self._parameters(network, value)[self.weight_name]
        dict(network.named_parameters())[self.weight_name].copy_(edited)
        if self.input_weights is not None:
            network.input_offset = value * self.input_weights


def _ridge(features, target):
    """Ridge regression weights of ``target`` on centred ``features`` (the intercept is left out)."""
    centred = features - features.mean(0)
    gram = centred.T @ centred
    penalty = RIDGE * gram.diagonal().mean().clamp_min(1e-12)
    return torch.linalg.solve(gram + penalty * torch.eye(len(gram), device=gram.device),
                              centred.T @ (target - target.mean()))


def offset(network, data, settings, progress):
    """Shift each row's logit against its group's mean gap; the final choice picks the shift and threshold."""
    # g reads group membership and logits, never labels: the choice may read the training rows too.
    family = OutputOffset.fit(network, data.train, group_column=group_column(data))
    return StrategyResult(network, all_kept(network), family=family, fitted_to_train=False)


def quantile(network, data, settings, progress):
    """The offset's thresholds per group, set at one quantile of each group's scores on the certifying rows.

    The family is the offset's, where it is exactly one threshold per group;
    the final choice takes the quantile route of
    :func:`~skfairmask.selection.certify_results`.
    """
    column = group_column(data)
    if column is None:
        raise StrategyNotApplicable(
            "strategy='quantile' needs the protected attribute as a column of X, with two groups (as AIF360 "
            "prepares the data), and tabular X; strategy='offset' works without it.")
    objective = settings.objective
    if settings.bias_metric != "spd" or objective.threshold != "tune" or objective.confidence is None:
        raise StrategyNotApplicable(
            "strategy='quantile' certifies bias_metric='spd' with threshold='tune' and a confidence; got "
            f"bias_metric={settings.bias_metric!r}, threshold={objective.threshold!r}.")
    family = OutputOffset.fit(network, data.train, group_column=column)
    return StrategyResult(network, all_kept(network), family=family, fitted_to_train=False,
                          certify_at_quantiles=True)


def group_column(data):
    """The first column of a tabular ``X`` that holds one of two groups on every row of ``data``, or None."""
    if data.train.X.dim() != 2 or data.train.sensitive.dim() != 1:
        return None  # images, or one-hot groups: checked before every row is gathered
    rows = data.every_row
    positions = attribute_column_positions(rows.X.cpu().numpy(), rows.sensitive.cpu().numpy())
    return positions[0] if positions and len(torch.unique(rows.sensitive)) == 2 else None
