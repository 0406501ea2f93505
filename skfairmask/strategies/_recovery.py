"""The strategies of the foundation: threshold only, Adv.Ft, prune, prune + Adv.Ft.

Each takes ``(network, data, settings, progress)`` and returns a
:class:`~skfairmask.strategies.StrategyResult`. ``network`` is already a private
copy, so a strategy may change it in place.
"""

import time

import torch

from ..finetune import adversarial_finetune, apply_mask, remove_mask
from ..masking import discover_mask, maskable_parameters
from ._base import StrategyResult

__all__ = ["adv_ft", "none", "prune", "prune_advft"]


def _all_kept(network):
    return {name: torch.ones_like(p, dtype=torch.bool) for name, p in maskable_parameters(network).items()}


def _timed(timings, phase, function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    timings[phase] = time.perf_counter() - start
    return result


def _discover(network, data, settings, progress, result):
    discovery = _timed(
        result.timings, "mask_discovery", discover_mask, network, data.train, monitor=data.holdout,
        bias_metric=settings.bias_metric, tau=settings.tau, beta=settings.beta,
        fairness_weight=settings.fairness_weight, epochs=settings.epochs, lr=settings.lr,
        batch_size=settings.batch_size, on_epoch_end=progress("mask discovery", settings.epochs),
    )
    result.masks = discovery.masks
    result.history["mask_discovery"] = discovery.history


def _finetune(network, data, settings, progress, result):
    result.history["finetune"] = _timed(
        result.timings, "finetune", adversarial_finetune, network, data.train, select_on=data.holdout,
        bias_metric=settings.bias_metric, settings=settings.adversarial,
        on_epoch_end=progress("fine-tuning", settings.adversarial.epochs),
    )


def none(network, data, settings, progress):
    """Leave the network as it is; only the threshold will be tuned."""
    return StrategyResult(network, _all_kept(network))


def adv_ft(network, data, settings, progress):
    """Savani et al.'s adversarial fine-tuning of the whole network."""
    result = StrategyResult(network, _all_kept(network))
    _finetune(network, data, settings, progress, result)
    return result


def prune(network, data, settings, progress):
    """Discover the corrupted weights and zero them, with no fine-tuning."""
    result = StrategyResult(network, {})
    _discover(network, data, settings, progress, result)
    with torch.no_grad():
        params = dict(network.named_parameters())
        for name, mask in result.masks.items():
            params[name].mul_(mask)
    return result


def prune_advft(network, data, settings, progress):
    """Zero the corrupted weights, then fine-tune adversarially with them held at zero."""
    result = StrategyResult(network, {})
    _discover(network, data, settings, progress, result)
    apply_mask(network, result.masks)
    _finetune(network, data, settings, progress, result)
    remove_mask(network, result.masks)
    return result
