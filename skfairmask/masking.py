"""Algorithm 1: discovering the weights that carry a network's unfairness.

Each weight tensor ``θ`` gets a real tensor ``m`` of the same shape. A step
draws noise ``ε ~ N(0, σ²)`` with ``σ² = clip(0.5·m, 0.05, 1)``, forms the hard
mask ``M = 1[sigmoid(m + ε) ≥ 0.5]`` with a straight-through gradient, and runs
the frozen network on ``θ ⊙ M``. ``M = 1`` keeps a weight; ``M = 0`` marks it
as corrupted. The loss is

    BCE + λ·|soft bias| + β·log(max(d, τ) / τ),

where ``d`` is the share of kept weights over all masked tensors together.
"""

import math
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.func import functional_call

from . import _outputs
from .metrics import group_label_strata

__all__ = [
    "MASK_GRANULARITIES",
    "check_finite",
    "MaskDiscovery",
    "MaskLogits",
    "MaskSettings",
    "density_regulariser",
    "discover_mask",
    "mask_density",
    "mask_noise_std",
    "maskable_parameters",
    "stratified_batches",
    "straight_through_mask",
]

#: Initial value of every mask logit: sigmoid(3) ≈ 0.95, so the mask starts all ones.
MASK_INIT = 3.0

#: An epoch of mask discovery takes at least this many batches, drawing the rows
#: again where they make fewer: a logit needs a few hundred Adam steps to travel
#: from ``MASK_INIT`` to zero, and a small validation set would never get there.
MIN_BATCHES_PER_EPOCH = 20

#: What one mask entry covers: a single weight (the paper), or a whole unit
#: (a row of a Linear weight, an output channel of a convolution).
MASK_GRANULARITIES = ("weight", "unit")


def maskable_parameters(module):
    """The weight tensors that get a mask: every parameter with two or more dims.

    Biases and normalisation parameters (one dim) stay unmasked.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    dict of str to torch.nn.Parameter
    """
    return {name: p for name, p in module.named_parameters() if p.dim() >= 2}


def check_finite(value, phase, epoch):
    """``value``, or a :class:`FloatingPointError` naming the phase and epoch if it is NaN or infinite."""
    if not math.isfinite(value):
        raise FloatingPointError(
            f"The loss of {phase} became {value} at epoch {epoch}; the fit was stopped. "
            "Check the data for extreme values, or lower the learning rate."
        )
    return value


def mask_noise_std(logits):
    """Standard deviation of the exploration noise: ``sqrt(clip(0.5·m, 0.05, 1))``."""
    return torch.sqrt(torch.clamp(0.5 * logits.detach(), 0.05, 1.0))


class _HardThreshold(torch.autograd.Function):
    """``1[p ≥ 0.5]`` forward, identity backward (exact 0/1 values, unlike ``h + p − p.detach()``)."""

    @staticmethod
    def forward(ctx, probability):
        return (probability >= 0.5).to(probability.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad


def straight_through_mask(logits, noise=None):
    """Hard 0/1 mask in the forward pass, gradient of the sigmoid in the backward.

    Parameters
    ----------
    logits : torch.Tensor
        The relaxed mask ``m``.
    noise : torch.Tensor, optional
        ``ε`` to add to ``m`` before thresholding.

    Returns
    -------
    torch.Tensor
        Values exactly 0 or 1, whose gradient with respect to ``logits`` is that
        of ``sigmoid(logits + noise)``.
    """
    return _HardThreshold.apply(torch.sigmoid(logits if noise is None else logits + noise))


def mask_density(masks):
    """Share of kept weights ``‖M‖₀ / N`` over all masks together (not per layer)."""
    masks = list(masks)
    kept = sum(m.sum() for m in masks)
    return kept / sum(m.numel() for m in masks)


def density_regulariser(density, tau):
    """``log(max(d, τ) / τ)``: pushes the density down until it reaches ``τ``."""
    return torch.log(torch.clamp(density, min=tau) / tau)


class MaskLogits(nn.Module):
    """The learnable relaxed mask: one real tensor per masked weight.

    Parameters
    ----------
    shapes : dict of str to torch.Size
        Name and shape of each masked weight.
    init : float, default=MASK_INIT
        Starting value of every logit.
    device : str or torch.device, default="cpu"
    granularity : {"weight", "unit"}, default="weight"
        With ``"unit"``, a tensor of shape ``(out, ...)`` gets one logit per
        output unit, shared by the unit's whole row or filter. The last tensor
        (the classifier head, whose rows are the outputs) keeps one logit per
        weight: masking its rows would switch an output off.
    """

    def __init__(self, shapes, init=MASK_INIT, device="cpu", granularity="weight"):
        super().__init__()
        self.names = list(shapes)
        self.shapes = dict(shapes)
        head = self.names[-1] if self.names else None
        logit_shapes = [
            shape if granularity == "weight" or name == head else (shape[0],) + (1,) * (len(shape) - 1)
            for name, shape in shapes.items()
        ]
        self.logits = nn.ParameterList(
            nn.Parameter(torch.full(shape, float(init), device=device)) for shape in logit_shapes
        )

    def sample(self):
        """Noisy straight-through masks, name → 0/1 tensor of the weight's shape, with gradient."""
        return {
            name: straight_through_mask(m, torch.randn_like(m) * mask_noise_std(m)).expand(self.shapes[name])
            for name, m in zip(self.names, self.logits)
        }

    def hard(self):
        """Deterministic masks without noise, name → boolean tensor of the weight's shape."""
        return {
            name: (m.detach() >= 0).expand(self.shapes[name]).clone()
            for name, m in zip(self.names, self.logits)
        }


@dataclass(frozen=True)
class MaskSettings:
    """Hyperparameters of :func:`discover_mask`, every one required: the estimator builds them from its own.

    Attributes
    ----------
    tau : float
        Density floor at which the regulariser stops pushing.
    beta : float
        Weight of the density regulariser.
    fairness_weight : float
        λ, the weight of the bias surrogate in the task loss.
    epochs : int
        Passes over the rows, each of at least ``MIN_BATCHES_PER_EPOCH`` batches.
    lr : float
        Adam's learning rate on the mask logits.
    batch_size : int
    granularity : {"weight", "unit"}
        What one mask entry covers (see :class:`MaskLogits`).
    """

    tau: float
    beta: float
    fairness_weight: float
    epochs: int
    lr: float
    batch_size: int
    granularity: str


@dataclass
class MaskDiscovery:
    """What :func:`discover_mask` found.

    Attributes
    ----------
    masks : dict of str to torch.Tensor
        Boolean masks; ``True`` keeps a weight, ``False`` marks it corrupted.
    history : list of dict
        One record per epoch: ``epoch``, ``loss``, ``density`` and ``bias``
        (the bias of the deterministically masked network at probability 0.5
        on the monitored rows).
    """

    masks: dict
    history: list = field(default_factory=list)


def stratified_batches(y, sensitive, batch_size, min_batches=1):
    """Shuffled mini-batches in which every (group, label) stratum is spread evenly.

    Rows are shuffled, ranked within their stratum, and ordered by their
    fractional rank, so that each stretch of ``batch_size`` rows holds each
    stratum in its overall share.

    Parameters
    ----------
    y : torch.Tensor of shape (n,)
        0/1 labels.
    sensitive : torch.Tensor of shape (n,) or (n, n_groups)
        0/1 protected attribute, or one-hot groups.
    batch_size : int
    min_batches : int, default=1
        When one pass over the rows makes fewer batches, further independently
        shuffled passes are appended until it makes this many.

    Returns
    -------
    list of torch.Tensor
        Row indices, one tensor per batch.
    """
    passes = max(1, -(-min_batches * batch_size // len(y)))  # ceiling division
    order = torch.cat([_stratified_order(y, sensitive) for _ in range(passes)])
    n_batches = max(min_batches, len(order) // batch_size) if passes > 1 else max(1, len(y) // batch_size)
    return list(torch.tensor_split(order, n_batches))


def _stratified_order(y, sensitive):
    """One shuffled pass over the rows, every stratum spread evenly along it."""
    strata = group_label_strata(sensitive, y).long()
    shuffled = torch.randperm(len(y), device=y.device)
    by_stratum = shuffled[torch.argsort(strata[shuffled], stable=True)]
    counts = torch.bincount(strata)
    starts = torch.cumsum(counts, 0) - counts
    stratum_of = strata[by_stratum]
    rank = torch.arange(len(y), device=y.device) - starts[stratum_of]
    jitter = torch.rand(len(y), device=y.device)
    position = (rank + jitter) / counts[stratum_of]
    return by_stratum[torch.argsort(position)]


def fairness_aware_loss(logit, y, sensitive, bias_metric, fairness_weight, class_weight=None):
    """``cross-entropy + λ·|soft bias|`` on one batch of the network's output.

    ``logit`` is the favourable-class logit (n,) or the class logits (n, k).
    ``class_weight`` (see :func:`skfairmask._outputs.class_weight`) weighs the
    classes equally, as balanced accuracy does.
    """
    task = _outputs.task_loss(logit, y, class_weight)
    if fairness_weight == 0:
        return task
    gap = _outputs.soft_bias(y, logit, sensitive, bias_metric)
    # A batch may lack a stratum that the measure needs (say, no positive in
    # one group for EOD); it then adds no pull. The gap must stay out of the
    # graph: its 0/0 would turn every gradient into NaN.
    if torch.isnan(gap):
        return task
    return task + fairness_weight * gap.abs()


@torch.no_grad()
def hard_bias(module, rows, bias_metric, params=None):
    """Bias of the module's predictions (probability 0.5, or argmax), on all ``rows`` at once."""
    module.eval()
    logit = module(rows.X) if params is None else functional_call(module, params, (rows.X,))
    return float(_outputs.predicted_bias(rows.y, logit, rows.sensitive, bias_metric))


def discover_mask(module, rows, settings, *, bias_metric, monitor=None, task_loss=None, on_epoch_end=None):
    """Learn which weights of a frozen network carry its unfairness.

    Parameters
    ----------
    module : torch.nn.Module
        Returns the favourable-class logit, shape (n,), or the class logits,
        shape (n, k). It is left unchanged.
    rows : Rows
        The rows to learn the mask on, on the module's device.
    settings : MaskSettings
    bias_metric : str
    monitor : Rows, optional
        Held-out rows on which each epoch's bias is recorded; ``rows`` if omitted.
    task_loss : callable, optional
        ``task_loss(logit, index)`` on the logits of the rows ``rows[index]``,
        replacing the default ``BCE + λ·|soft bias|`` (distillation uses it).
    on_epoch_end : callable, optional
        Called with each epoch's history record.

    Returns
    -------
    MaskDiscovery
    """
    s = settings
    module.eval()  # θ and the BatchNorm statistics stay as they are
    monitor = rows if monitor is None else monitor
    weights = {name: p.detach() for name, p in maskable_parameters(module).items()}
    mask_logits = MaskLogits(
        {n: w.shape for n, w in weights.items()}, device=rows.X.device, granularity=s.granularity
    )
    if task_loss is None:
        def task_loss(logit, index):
            return fairness_aware_loss(logit, rows.y[index], rows.sensitive[index], bias_metric, s.fairness_weight)

    # Multi-tensor Adam: the same steps as the per-tensor loop CPU defaults to, with less overhead.
    optimizer = torch.optim.Adam(mask_logits.parameters(), lr=s.lr, foreach=True)

    history = []
    for epoch in range(s.epochs):
        total, n_batches = 0.0, 0
        for index in stratified_batches(rows.y, rows.sensitive, s.batch_size, MIN_BATCHES_PER_EPOCH):
            masks = mask_logits.sample()
            masked = {name: weights[name] * masks[name] for name in weights}
            logit = functional_call(module, masked, (rows.X[index],))
            loss = task_loss(logit, index)
            if s.beta > 0:
                loss = loss + s.beta * density_regulariser(mask_density(masks.values()), s.tau)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += check_finite(loss.item(), "mask discovery", epoch + 1)
            n_batches += 1

        hard = mask_logits.hard()
        masked = {name: weights[name] * hard[name] for name in weights}
        record = {
            "epoch": epoch + 1,
            "loss": total / n_batches,
            "density": float(mask_density(m.float() for m in hard.values())),
            "bias": hard_bias(module, monitor, bias_metric, masked),
        }
        history.append(record)
        if on_epoch_end is not None:
            on_epoch_end(record)
    return MaskDiscovery(masks=mask_logits.hard(), history=history)
