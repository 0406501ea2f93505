"""What every strategy receives and returns."""

from dataclasses import dataclass, field

import torch

from ..finetune import FinetuneSettings
from ..objective import FairnessObjective
from ..selection import DebiasData

__all__ = ["DebiasData", "DebiasSettings", "StrategyNotApplicable", "StrategyResult"]


class StrategyNotApplicable(ValueError):
    """A strategy cannot repair this kind of network (say, ``offset`` on a multi-class one)."""


@dataclass(frozen=True)
class DebiasSettings:
    """Hyperparameters shared by the strategies, read off the estimator.

    Every field is required: the estimator's signature is the one place that
    holds their defaults.

    Attributes
    ----------
    bias_metric : str
    tau, beta, fairness_weight : float
        Mask discovery's density floor, regulariser weight and bias-surrogate weight.
    epochs : int
        Epochs of mask discovery.
    lr : float
        Adam's learning rate on the mask logits.
    batch_size : int
        Batch size of mask discovery.
    granularity : {"weight", "unit"}
        What one mask entry covers.
    teacher : str
        The strategy whose output ``distill_prune`` mimics.
    finetune : FinetuneSettings
        Settings of the fine-tuning, for the strategies that fine-tune.
    objective : FairnessObjective
        What every choice (epoch, search trial, strategy) is ranked by.
    """

    bias_metric: str
    tau: float
    beta: float
    fairness_weight: float
    epochs: int
    lr: float
    batch_size: int
    granularity: str
    teacher: str
    finetune: FinetuneSettings
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
    """

    network: torch.nn.Module
    masks: dict
    history: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    family: object = None
    fitted_to_train: bool = True
    alternatives: dict = None
