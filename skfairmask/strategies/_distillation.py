"""Distill-prune (the paper's section 4.4): is there a fair sub-network inside the unfair one?

A teacher strategy first rebuilds a fair network. Then a mask is learned over
the *unfair* network's frozen weights, so that the masked network mimics the
teacher: distillation at temperature 1 (cross-entropy to the teacher's
probabilities) plus consistency with the masked network's own outputs of the
previous epoch. There is no density constraint: how much gets pruned is what
the mimicry needs, and it is the figure of interest.
"""

import copy

import torch

from .._outputs import probabilities, soft_target_loss
from ..pruning import zero_masked
from ._base import StrategyResult
from ._steps import discover, timed

__all__ = ["DistillationLoss", "make_distill_prune"]

#: γ, the weight of the consistency between epochs.
CONSISTENCY_WEIGHT = 1.0

#: The distillation mask runs this many times the mask settings' ``epochs``. Without a
#: density push a logit moves only where mimicry pulls it, more slowly: on
#: Adult (AOD, seed 0) 10 epochs pruned 2.5% and 40 epochs 9.2%, with test Φ
#: 0.64 and 0.81.
EPOCH_FACTOR = 4


class DistillationLoss:
    """``H(student, teacher) + γ·H(student, student of the previous epoch)`` per batch.

    Parameters
    ----------
    teacher_proba : torch.Tensor of shape (n,) or (n, k)
        The teacher's favourable-class (or class) probabilities for every training row.
    consistency_weight : float, default=CONSISTENCY_WEIGHT
    """

    def __init__(self, teacher_proba, consistency_weight=CONSISTENCY_WEIGHT):
        self.teacher_proba = teacher_proba
        self.consistency_weight = consistency_weight
        self.previous = None  # the student's probabilities of the last finished epoch
        self._current = torch.full_like(teacher_proba, float("nan"))

    def __call__(self, logit, index):
        loss = soft_target_loss(logit, self.teacher_proba[index])
        self._current[index] = probabilities(logit.detach())
        if self.previous is not None:
            loss = loss + self.consistency_weight * soft_target_loss(logit, self.previous[index])
        return loss

    def end_epoch(self):
        """Make this epoch's outputs the consistency target of the next."""
        self.previous, self._current = self._current, self._current.clone()


def make_distill_prune(teachers):
    """The ``distill_prune`` strategy, whose teacher is looked up in ``teachers`` by ``settings.teacher``.

    Parameters
    ----------
    teachers : dict of str to callable
        Strategy functions by name.

    Returns
    -------
    callable
        A strategy.
    """

    def distill_prune(network, data, settings, progress):
        """Prune the unfair network so that it mimics the fair network of ``settings.teacher``.

        The weights are never changed, only zeroed: the result is a sub-network
        of the pre-trained network. The mask trains for ``EPOCH_FACTOR × epochs``.
        """
        result = StrategyResult(network, {})
        with timed(result.timings, "teacher"):
            teacher = teachers[settings.teacher](copy.deepcopy(network), data, settings, progress)
        result.history.update({f"teacher_{phase}": h for phase, h in teacher.history.items()})
        with torch.no_grad():
            teacher_proba = probabilities(teacher.network.eval()(data.train.X))
        distillation = DistillationLoss(teacher_proba)
        epochs = EPOCH_FACTOR * settings.mask.epochs
        tick = progress("distillation mask", epochs)

        def on_epoch_end(record):
            distillation.end_epoch()
            tick(record)

        result.masks = discover(network, data, settings, progress, result, beta=0.0, epochs=epochs,
                                task_loss=distillation, on_epoch_end=on_epoch_end)
        zero_masked(network, result.masks)
        return result

    return distill_prune
