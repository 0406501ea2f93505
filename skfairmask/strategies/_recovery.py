"""Pruning strategies and Savani et al.'s adversarial fine-tuning.

Each takes ``(network, data, settings, progress)`` and returns a
:class:`~skfairmask.strategies.StrategyResult`. ``network`` is already a private
copy, so a strategy may change it in place.
"""

from ..pruning import masked, zero_masked
from ._base import StrategyResult
from ._steps import all_kept, discover, finetune

__all__ = ["adv_ft", "none", "prune", "prune_advft"]


def none(network, data, settings, progress):
    """Leave the network as it is; only the threshold will be tuned."""
    return StrategyResult(network, all_kept(network), fitted_to_train=False)


def adv_ft(network, data, settings, progress):
    """Fine-tune the whole network towards fairness (Savani et al.'s Adv.Ft with the default loss)."""
    result = StrategyResult(network, all_kept(network))
    finetune(network, data, settings, progress, result)
    return result


def prune(network, data, settings, progress):
    """Discover the corrupted weights and zero them, with no fine-tuning."""
    result = StrategyResult(network, {})
    result.masks = discover(network, data, settings, progress, result)
    zero_masked(network, result.masks)
    return result


def prune_advft(network, data, settings, progress):
    """Zero the corrupted weights, then fine-tune with them held at zero."""
    result = StrategyResult(network, {})
    result.masks = discover(network, data, settings, progress, result)
    with masked(network, result.masks):
        finetune(network, data, settings, progress, result)
    return result
