"""What every strategy receives and returns."""

from dataclasses import dataclass, field

import torch

from ..finetune import FinetuneSettings
from ..masking import MaskSettings
from ..objective import FairnessObjective
from ..selection import DebiasData

__all__ = ["DebiasData", "DebiasSettings", "StrategyNotApplicable", "StrategyResult"]


class StrategyNotApplicable(ValueError):
    """A strategy cannot repair this kind of network (say, ``offset`` on a multi-class one)."""


@dataclass(frozen=True)
class DebiasSettings:
    """What the strategies read, built from the estimator's parameters: the one place their defaults live.

    Attributes
    ----------
    bias_metric : str
    mask : MaskSettings
        Mask discovery's settings.
    finetune : FinetuneSettings
        Fine-tuning's settings, for the strategies that fine-tune.
    teacher : str
        The strategy whose output ``distill_prune`` mimics.
    objective : FairnessObjective
        What every choice (epoch, search trial) is ranked by.
    """

    bias_metric: str
    mask: MaskSettings
    finetune: FinetuneSettings
    teacher: str
    objective: FairnessObjective


@dataclass
class StrategyResult:
    """What a strategy hands back.

    Attributes
    ----------
    network : torch.nn.Module
        The debiased network (the one passed in, changed in place).
    masks : dict of str to torch.Tensor
        Boolean mask per masked weight; all ``True`` where nothing was pruned.
    history : dict of str to list of dict
        Per-epoch records by phase (``"mask_discovery"``, ``"finetune"``).
    timings : dict of str to float
        Seconds spent per phase.
    family : object, optional
        A family of edits of ``network`` among which the final choice also
        picks (``members`` and ``output(network, X, value)``; see
        :class:`~skfairmask.strategies.OutputOffset`), or None.
    fitted_to_train : bool, default=True
        Whether the network was fitted or searched on the training rows'
        labels. When it was not (``none``, ``offset``), the final choice may
        read the training rows too, which makes it surer.
    alternatives : dict of str to StrategyResult, optional
        For a portfolio (``auto``): each member strategy's own result, among
        whose rules the final choice picks; ``network`` is then None.
    certify_at_quantiles : bool, default=False
        Whether the final rule sets each group's threshold at one quantile of
        the certifying rows (``quantile``;
        :func:`~skfairmask.selection.quantile_selection`).
    """

    network: torch.nn.Module
    masks: dict
    history: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    family: object = None
    fitted_to_train: bool = True
    alternatives: dict = None
    certify_at_quantiles: bool = False
