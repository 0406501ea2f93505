"""What a network's output means, binary or multi-class, for the training loops.

A binary network returns one favourable-class logit per row, shape (n,); a
multi-class one returns one logit per class, shape (n, k). Every loss, bias
surrogate and prediction the strategies need goes through these functions, so
that the loops never ask which of the two they hold.
"""

import torch
from torch import nn

from .metrics import bias_gap, mean_class_gap

__all__ = ["class_weight", "hard_predictions", "predicted_bias", "probabilities", "soft_bias", "soft_target_loss",
           "task_loss"]


def _multiclass(output):
    return output.dim() == 2


def probabilities(output):
    """The favourable-class probability (n,), or the class probabilities (n, k)."""
    return torch.softmax(output, -1) if _multiclass(output) else torch.sigmoid(output)


def class_weight(y, output):
    """Weights that make every class count equally, as balanced accuracy does.

    Parameters
    ----------
    y : torch.Tensor of shape (n,)
        Labels: 0/1, or class codes.
    output : torch.Tensor
        A sample of the network's output, telling binary from multi-class.

    Returns
    -------
    torch.Tensor
        The positive rows' weight ``n_negative / n_positive`` (binary), or one
        weight per class, ``n / (k · n_c)``.
    """
    if not _multiclass(output):
        return (len(y) - y.sum()) / y.sum()
    counts = torch.bincount(y.long(), minlength=output.shape[1]).to(output.dtype)
    return len(y) / (output.shape[1] * counts.clamp_min(1.0))


def task_loss(output, y, weight=None):
    """Binary cross-entropy on the logit, or cross-entropy on the class logits.

    ``weight`` is :func:`class_weight`'s, or None for unweighted rows.
    """
    if _multiclass(output):
        return nn.functional.cross_entropy(output, y.long(), weight=weight)
    return nn.functional.binary_cross_entropy_with_logits(output, y, pos_weight=weight)


def soft_target_loss(output, target):
    """Cross-entropy of the output against target probabilities of the same shape (distillation)."""
    if _multiclass(output):
        return -(target * torch.log_softmax(output, -1)).sum(-1).mean()
    return nn.functional.binary_cross_entropy_with_logits(output, target)


def _gap(y, scores, sensitive, bias_metric, multiclass):
    if multiclass:
        return mean_class_gap(y, scores, sensitive, bias_metric)
    return bias_gap(y, scores, sensitive, bias_metric)


def soft_bias(y, output, sensitive, bias_metric):
    """The differentiable bias of the output's probabilities.

    Binary: the signed :func:`~skfairmask.metrics.bias_gap`. Multi-class: the
    mean absolute per-class gap (:func:`~skfairmask.metrics.mean_class_gap`).
    NaN where the rows lack a stratum the measure needs.
    """
    return _gap(y, probabilities(output), sensitive, bias_metric, _multiclass(output))


def hard_predictions(output):
    """0/1 predictions at probability 0.5 (binary), or one-hot argmax predictions (multi-class)."""
    if _multiclass(output):
        return nn.functional.one_hot(output.argmax(-1), output.shape[1]).to(output.dtype)
    return (output > 0).to(output.dtype)


def predicted_bias(y, output, sensitive, bias_metric):
    """The bias of :func:`hard_predictions`, measured as :func:`soft_bias` measures."""
    return _gap(y, hard_predictions(output), sensitive, bias_metric, _multiclass(output))
