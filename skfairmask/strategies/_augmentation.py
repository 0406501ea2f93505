"""NetAug: train the fair sub-network inside the full unfair network that holds it.

Network augmentation (Cai et al. 2021) helps a tiny network by training it
jointly with larger networks that contain it. Here the tiny network is the fair
sub-network ``θ_M`` (the corrupted weights pruned) and the large one is the
full pre-trained network: each step adds the loss of an augmented network
``[θ_M, θ_i]`` that turns a random share of the corrupted weights back on.
Only the sub-network is returned, with the corrupted weights at zero.
"""

import contextlib

import torch

from ..finetune import FinetuneCallback
from ..pruning import masked, parameter_owner
from ._base import StrategyResult
from ._steps import discover, finetune

__all__ = ["MaskAugmentation", "netaug"]

#: Chance that an augmented network turns a given corrupted weight back on.
AUGMENT_SHARE = 0.5

#: α_i, the weight of the augmented network's loss.
AUGMENT_SCALE = 1.0


class MaskAugmentation(FinetuneCallback):
    """Adds to each fine-tuning step the loss of the pruned network widened by a random share of its pruned weights.

    The network is pruned by :func:`~skfairmask.pruning.masked`.

    :mod:`torch.nn.utils.prune` recomputes ``weight = weight_orig * weight_mask``
    before every forward, so swapping the ``weight_mask`` buffers is enough to
    turn pruned weights back on, with their trainable originals.

    Parameters
    ----------
    network : torch.nn.Module
        The pruned network.
    masks : dict of str to torch.Tensor
        The boolean masks it was pruned with.
    share : float, default=AUGMENT_SHARE
        Chance that a corrupted weight is on in an augmented network.
    scale : float, default=AUGMENT_SCALE
        Weight of the augmented loss (read by the fine-tuning loop).
    """

    def __init__(self, network, masks, share=AUGMENT_SHARE, scale=AUGMENT_SCALE):
        self.masks = masks
        self.share = share
        self.scale = scale
        self._owners = {name: parameter_owner(network, name) for name in masks}

    @contextlib.contextmanager
    def widened(self):
        """Within the block, a fresh random share of the corrupted weights is on."""
        saved = {}
        for name, (owner, attribute) in self._owners.items():
            buffer = getattr(owner, attribute + "_mask")
            saved[name] = buffer
            turned_on = torch.rand_like(buffer) < self.share
            # A new tensor, not an in-place change: the sub-network's forward
            # pass still needs the old mask for its backward pass.
            setattr(owner, attribute + "_mask", (self.masks[name] | turned_on).to(buffer.dtype))
        try:
            yield
        finally:
            for name, (owner, attribute) in self._owners.items():
                setattr(owner, attribute + "_mask", saved[name])

    def extra_loss(self, network, loss_of, index):
        """``scale`` times the loss of a freshly widened network on the same rows."""
        with self.widened():
            return self.scale * loss_of(index)


def netaug(network, data, settings, progress):
    """Prune the corrupted weights, fine-tune with augmented networks, return the sub-network."""
    result = StrategyResult(network, {})
    result.masks = discover(network, data, settings, progress, result)
    with masked(network, result.masks):
        finetune(network, data, settings, progress, result, augment=MaskAugmentation(network, result.masks))
    return result
