"""What every strategy receives and returns."""

from dataclasses import dataclass, field

import torch

from .._rows import Rows
from ..finetune import FinetuneSettings

__all__ = ["DebiasData", "DebiasSettings", "StrategyResult"]


@dataclass(frozen=True)
class DebiasData:
    """The debiasing rows, split in two.

    Attributes
    ----------
    train : Rows
        Rows that masks and weights are learned on.
    holdout : Rows
        Rows that choices are made on (the best epoch, the threshold), so that
        they hold on data the training did not see.
    """

    train: Rows
    holdout: Rows


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
    """

    network: torch.nn.Module
    masks: dict
    history: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
