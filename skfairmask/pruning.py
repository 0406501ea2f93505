"""Masks as a reparametrisation: pruned weights held at exactly zero while the rest train.

:func:`masked` applies :func:`torch.nn.utils.prune.custom_from_mask` to every
masked weight, so that each becomes the product of a trainable original and
a constant mask, recomputed before every forward pass; on leaving the block
it makes the product permanent (``prune.remove``): plain parameters again,
the pruned entries zero. Nothing in the module is rebuilt.
"""

import contextlib

import torch
from torch.nn.utils import prune

__all__ = ["masked", "parameter_owner", "zero_masked"]


def parameter_owner(module, name):
    """The submodule that holds the parameter ``name`` (as ``named_parameters`` spells it), and its attribute.

    Parameters
    ----------
    module : torch.nn.Module
    name : str
        For example ``"module.4.weight"``.

    Returns
    -------
    owner : torch.nn.Module
    attribute : str
    """
    path, _, attribute = name.rpartition(".")
    return module.get_submodule(path), attribute


@contextlib.contextmanager
def masked(network, masks):
    """Within the block, the weights that ``masks`` mark ``False`` are zero and stay zero under training.

    Parameters
    ----------
    network : torch.nn.Module
    masks : dict of str to torch.Tensor
        Parameter name → boolean mask (``True`` keeps the weight).

    Yields
    ------
    torch.nn.Module
        ``network``, reparametrised; on exit its parameters are plain again, pruned entries zero.
    """
    owners = {name: parameter_owner(network, name) for name in masks}
    for name, (owner, attribute) in owners.items():
        prune.custom_from_mask(owner, attribute, masks[name])
    try:
        yield network
    finally:
        for owner, attribute in owners.values():
            prune.remove(owner, attribute)


@torch.no_grad()
def zero_masked(network, masks):
    """Set the weights that ``masks`` mark ``False`` to zero, in place (no training follows)."""
    params = dict(network.named_parameters())
    for name, mask in masks.items():
        params[name].mul_(mask)
