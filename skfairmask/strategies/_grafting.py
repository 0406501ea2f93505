"""Grafting: re-activate the corrupted weights with new values ("scions"), then fine-tune.

Filter grafting (Meng et al. 2020) fills weak filters with values taken from
elsewhere rather than dropping them. Here the rootstocks are the weights that
mask discovery marked as corrupted, and the scion is noise, the strongest
intact row of the same layer, or a second, independently discovered fair
sub-network.
"""

import math

import torch

from ..masking import maskable_parameters
from ..pruning import masked
from ._base import StrategyResult
from ._steps import discover, finetune

__all__ = ["graft_external", "graft_internal", "graft_noise", "histogram_entropy", "layer_graft_weight"]

#: l1 norm of a layer's noise scion relative to the corrupted weights it replaces (> 1).
NOISE_L1_GAIN = 1.5

#: Bins of the weight histogram whose entropy weighs a layer in external grafting.
ENTROPY_BINS = 10


@torch.no_grad()
def _noise_scion(weight, mask):
    """Gaussian values for the corrupted entries, scaled to ``NOISE_L1_GAIN`` times their l1 norm."""
    corrupted = ~mask
    replaced_l1 = weight[corrupted].abs().sum()
    noise = torch.randn_like(weight) * corrupted
    noise_l1 = noise.abs().sum()
    if noise_l1 == 0 or replaced_l1 == 0:
        return weight
    return torch.where(corrupted, noise * (NOISE_L1_GAIN * replaced_l1 / noise_l1), weight)


@torch.no_grad()
def _internal_scion(weight, mask):
    """Each corrupted entry takes the value at its position in the layer's strongest kept row.

    Rows are ranked by the l1 norm of their kept weights. With unit masks a
    corrupted row is thus replaced by a copy of the strongest intact row.
    """
    kept = weight * mask
    strongest = kept.flatten(1).abs().sum(dim=1).argmax()
    return torch.where(mask, weight, kept[strongest].expand_as(weight))


def _graft_and_finetune(scion, network, data, settings, progress):
    """Discover the mask, fill the corrupted weights with ``scion(weight, mask)``, fine-tune them all."""
    result = StrategyResult(network, {})
    result.masks = discover(network, data, settings, progress, result)
    params = dict(network.named_parameters())
    with torch.no_grad():
        for name, mask in result.masks.items():
            params[name].copy_(scion(params[name], mask))
    finetune(network, data, settings, progress, result)
    return result


def graft_noise(network, data, settings, progress):
    """Replace corrupted weights with Gaussian noise of a larger l1 norm, then fine-tune."""
    return _graft_and_finetune(_noise_scion, network, data, settings, progress)


def graft_internal(network, data, settings, progress):
    """Fill corrupted weights from the strongest intact row of their layer, then fine-tune."""
    return _graft_and_finetune(_internal_scion, network, data, settings, progress)


def histogram_entropy(values, bins=ENTROPY_BINS):
    """Shannon entropy (nats) of the histogram of ``values`` over their own range."""
    counts = torch.histc(values.detach().float().flatten(), bins=bins)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * p.log()).sum())


def layer_graft_weight(entropy_first, entropy_second):
    """``α = 0.4·arctan(500·(H1 − H2))/π + 0.5``: the first network's share in a grafted layer.

    The layer with the more informative (higher-entropy) weights dominates;
    α stays within (0.3, 0.7), so both contribute.
    """
    return 0.4 * math.atan(500.0 * (entropy_first - entropy_second)) / math.pi + 0.5


def graft_external(network, data, settings, progress):
    """Discover two masks independently, graft the two sub-networks layer by layer, then fine-tune.

    Layer ``l`` becomes ``α_l·(θ⊙M1)_l + (1 − α_l)·(θ⊙M2)_l`` with
    :func:`layer_graft_weight` of the two masked layers' histogram entropies.
    Weights that both masks mark as corrupted are zero in both and are held
    at zero during fine-tuning; the reported mask is ``M1 | M2``.
    """
    result = StrategyResult(network, {})
    first = discover(network, data, settings, progress, result)
    # The second run draws fresh mask noise and batches, so it lands on a different mask.
    second = discover(network, data, settings, progress, result, phase="mask_discovery_second")
    params = maskable_parameters(network)
    with torch.no_grad():
        for name, weight in params.items():
            one, two = weight * first[name], weight * second[name]
            alpha = layer_graft_weight(histogram_entropy(one), histogram_entropy(two))
            weight.copy_(alpha * one + (1.0 - alpha) * two)
    result.masks = {name: first[name] | second[name] for name in params}
    with masked(network, result.masks):
        finetune(network, data, settings, progress, result)
    return result
