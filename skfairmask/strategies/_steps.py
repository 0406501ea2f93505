"""Building blocks that the strategies compose: discover a mask, fine-tune, time a phase."""

import contextlib
import time
from dataclasses import replace
from functools import partial

import torch

from ..finetune import EachEpoch, KeepBest, finetune_network
from ..masking import discover_mask, maskable_parameters
from ..selection import selection_summary

__all__ = ["all_kept", "discover", "finetune", "timed"]


def all_kept(network):
    """A mask that keeps every weight: what strategies that find no mask report."""
    return {name: torch.ones_like(p, dtype=torch.bool) for name, p in maskable_parameters(network).items()}


@contextlib.contextmanager
def timed(timings, phase):
    """Add the seconds the block takes to ``timings[phase]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[phase] = timings.get(phase, 0.0) + time.perf_counter() - start


def discover(network, data, settings, progress, result, phase="mask_discovery", task_loss=None,
             on_epoch_end=None, **overrides):
    """Run Algorithm 1 on ``network`` and record its history and time in ``result``.

    ``overrides`` replace fields of ``settings.mask`` (distillation runs
    without the density push, for longer).

    Returns
    -------
    dict of str to torch.Tensor
        The boolean masks.
    """
    mask_settings = replace(settings.mask, **overrides)
    if on_epoch_end is None:
        on_epoch_end = progress(phase.replace("_", " "), mask_settings.epochs)
    with timed(result.timings, "mask_discovery"):
        discovery = discover_mask(network, data.train, mask_settings, bias_metric=settings.bias_metric,
                                  monitor=data.selection, task_loss=task_loss, on_epoch_end=on_epoch_end)
    result.history[phase] = discovery.history
    return discovery.masks


def finetune(network, data, settings, progress, result, augment=None):
    """Fine-tune ``network``, keeping its best epoch by the objective, and record its history and time."""
    callbacks = [KeepBest(partial(selection_summary, data=data, objective=settings.objective)),
                 *([augment] if augment is not None else []),
                 EachEpoch(progress("fine-tuning", settings.finetune.epochs))]
    with timed(result.timings, "finetune"):
        result.history["finetune"] = finetune_network(network, data.train, bias_metric=settings.bias_metric,
                                                      settings=settings.finetune, callbacks=callbacks)
