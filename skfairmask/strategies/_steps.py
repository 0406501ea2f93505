"""Building blocks that the strategies compose: discover a mask, fine-tune, time a phase."""

import time
from functools import partial

import torch

from ..finetune import finetune_network
from ..masking import discover_mask, maskable_parameters
from ..selection import selection_summary

__all__ = ["all_kept", "discover", "finetune", "timed", "zero_masked"]


def all_kept(network):
    """A mask that keeps every weight: what strategies that find no mask report."""
    return {name: torch.ones_like(p, dtype=torch.bool) for name, p in maskable_parameters(network).items()}


def timed(timings, phase, function, *args, **kwargs):
    """Call ``function`` and add the seconds it took to ``timings[phase]``."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    timings[phase] = timings.get(phase, 0.0) + time.perf_counter() - start
    return result


def discover(network, data, settings, progress, result, phase="mask_discovery", **overrides):
    """Run Algorithm 1 on ``network`` and record its history and time in ``result``.

    ``overrides`` replace the keyword arguments read off ``settings``.

    Returns
    -------
    dict of str to torch.Tensor
        The boolean masks.
    """
    options = dict(
        monitor=data.selection, bias_metric=settings.bias_metric, tau=settings.tau, beta=settings.beta,
        fairness_weight=settings.fairness_weight, epochs=settings.epochs, lr=settings.lr,
        batch_size=settings.batch_size, granularity=settings.granularity,
    )
    options.update(overrides)
    if "on_epoch_end" not in options:
        options["on_epoch_end"] = progress(phase.replace("_", " "), settings.epochs)
    discovery = timed(result.timings, "mask_discovery", discover_mask, network, data.train, **options)
    result.history[phase] = discovery.history
    return discovery.masks


def finetune(network, data, settings, progress, result, augment=None):
    """Fine-tune ``network`` with the chosen loss and record its history and time in ``result``."""
    result.history["finetune"] = timed(
        result.timings, "finetune", finetune_network, network, data.train,
        score_epoch=partial(selection_summary, data=data, objective=settings.objective),
        bias_metric=settings.bias_metric, settings=settings.finetune, augment=augment,
        on_epoch_end=progress("fine-tuning", settings.finetune.epochs),
    )


@torch.no_grad()
def zero_masked(network, masks):
    """Set the weights that ``masks`` mark ``False`` to zero, in place."""
    params = dict(network.named_parameters())
    for name, mask in masks.items():
        params[name].mul_(mask)
