"""Fairness fine-tuning of a whole network, respecting a frozen-zero mask.

Three losses, chosen by :attr:`FinetuneSettings.loss`:

* ``"critic"`` (Savani et al. 2020): a critic reads the penultimate
  representation of a whole batch, flattened, and learns to regress that
  batch's bias. The network then minimises ``max(1, λ(|b̂| − ε + margin) + 1) · BCE``,
  where ``b̂`` is the critic's estimate, so that the task loss is scaled up
  while the critic still sees bias. The two phases alternate.
* ``"surrogate"``: no critic; the network minimises ``BCE + λ_s·|soft bias|``,
  the differentiable bias of the batch's probabilities.
* ``"both"``: the critic's scale times ``BCE + λ_s·|soft bias|``.

After each epoch the network is scored by the caller's ``score_epoch``
(the fairness objective on the selection rows), and the best epoch is kept.

Pruned weights stay exactly zero: the mask is applied with
:func:`torch.nn.utils.prune.custom_from_mask`, so each pruned weight is the
product of a trainable original and a constant zero.
"""

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import prune

from . import _outputs
from .masking import check_finite, fairness_aware_loss
from .network import LastLayerInput

__all__ = [
    "FINETUNE_LOSSES",
    "BiasCritic",
    "FinetuneSettings",
    "finetune_network",
    "apply_mask",
    "remove_mask",
]

#: The fine-tuning losses: the adversarial critic, the bias surrogate, or both.
FINETUNE_LOSSES = ("critic", "surrogate", "both")


class BiasCritic(nn.Module):
    """Regresses a batch's bias from the batch's representations, flattened.

    Parameters
    ----------
    batch_size : int
        Rows per batch; the critic's input is ``batch_size · n_features`` wide.
    n_features : int
        Size of one row's penultimate representation, flattened.
    hidden : int, default=32
    depth : int, default=3
    dropout : float, default=0.2
    """

    def __init__(self, batch_size, n_features, hidden=32, depth=3, dropout=0.2):
        super().__init__()
        layers, width = [], batch_size * n_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, representation):
        return self.layers(representation.reshape(1, -1)).reshape(())


@dataclass(frozen=True)
class FinetuneSettings:
    """Hyperparameters of :func:`finetune_network`.

    Savani et al. run 32 epochs of 201 critic and 301 network steps at a
    learning rate of 1e-4 and use the critic alone. On Adult that moved the
    network too little in a 30-second budget, so the defaults take fewer,
    larger steps (lr 1e-3), add the differentiable bias surrogate to the
    network's loss (``fairness_weight``), and weigh the classes equally
    (``balanced``), since performance is balanced accuracy. See
    ``benchmarks/adult_sex_spd.py`` for the measurements behind them.

    Attributes
    ----------
    loss : {"critic", "surrogate", "both"}
        What pulls the network towards fairness (see the module's docstring).
    epochs : int
        Alternations of the two phases.
    critic_steps, network_steps : int
        Steps of each phase per epoch.
    batch_size : int
        Rows per step, drawn at random; the critic reads whole batches of it.
    lr, critic_lr : float
        Adam's learning rates for the network and the critic.
    lam : float
        λ of the loss scale ``max(1, λ(|b̂| − ε + margin) + 1)``.
    epsilon, margin : float
        Tolerance and margin in that scale.
    fairness_weight : float
        Weight of ``|soft bias|`` added to the network's BCE (not used by ``"critic"``).
    balanced : bool
        Weigh the classes equally in the cross-entropy (positive rows by
        ``n_negative / n_positive`` for a binary network).
    """

    loss: str = "both"
    epochs: int = 16
    critic_steps: int = 60
    network_steps: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    critic_lr: float = 1e-3
    lam: float = 0.75
    epsilon: float = 0.05
    margin: float = 0.02
    fairness_weight: float = 3.0
    balanced: bool = True


def apply_mask(network, masks):
    """Zero the masked weights of ``network`` and keep them zero under training.

    Parameters
    ----------
    network : torch.nn.Module
    masks : dict of str to torch.Tensor
        Parameter name (as in ``network.named_parameters()``) → boolean mask.
    """
    for name, mask in masks.items():
        owner, attribute = name.rsplit(".", 1)
        prune.custom_from_mask(network.get_submodule(owner), attribute, mask)


def remove_mask(network, masks):
    """Make :func:`apply_mask` permanent: plain parameters, pruned entries zero."""
    for name in masks:
        owner, attribute = name.rsplit(".", 1)
        prune.remove(network.get_submodule(owner), attribute)


class _FrozenPass:
    """Outputs and penultimate representations of rows, from a network that does not change.

    The critic's phase reads them for ``rows_needed`` random rows while the
    network stays fixed in eval mode, where a row's output does not depend on
    its batch. When ``X`` has at most twice that many rows, one pass over all
    of them, indexed per batch, costs less than a pass per batch (on Adult it
    cut a default fit from 7.2 to 6.6 s); otherwise each batch is passed as it
    comes, which bounds the memory.
    """

    def __init__(self, network, representation, X, rows_needed):
        self.network, self.representation, self.X = network, representation, X
        self.whole = None
        if len(X) <= 2 * rows_needed:
            with torch.no_grad():
                output = network(X)
            self.whole = output, representation.value

    def __call__(self, index):
        if self.whole is None:
            with torch.no_grad():
                output = self.network(self.X[index])
            return output, self.representation.value
        output, features = self.whole
        return output[index], features[index]


def finetune_network(network, rows, *, score_epoch=None, bias_metric="spd",
                     settings=FinetuneSettings(), augment=None, on_epoch_end=None):
    """Fine-tune ``network`` in place towards fairness.

    Parameters
    ----------
    network : torch.nn.Module
        Returns the favourable-class logit, shape (n,), or the class logits,
        shape (n, k). Trained in place.
    rows : Rows
        The rows to train on, on the network's device.
    score_epoch : callable, optional
        ``score_epoch(network) -> dict`` with a ``"rank"`` entry, called after
        each epoch; the epoch of the highest rank is kept (the first on ties).
        Without it, the last epoch is kept.
    bias_metric : {"spd", "eod", "aod"}, default="spd"
    settings : FinetuneSettings
    augment : object, optional
        Network augmentation: ``augment.scale`` and a context manager
        ``augment.widened()`` during which ``network`` is a larger network
        holding it. Each step then adds ``scale`` times the widened network's
        loss on the same batch to the loss.
    on_epoch_end : callable, optional
        Called with each epoch's history record.

    Returns
    -------
    list of dict
        One record per epoch: ``epoch``, ``critic_loss`` (0 without a critic),
        ``loss``, and what ``score_epoch`` returned.
    """
    s = settings
    X, y, sensitive = rows.X, rows.y, rows.sensitive
    uses_critic = s.loss in ("critic", "both")
    surrogate_weight = s.fairness_weight if s.loss in ("surrogate", "both") else 0.0
    critic_steps = s.critic_steps if uses_critic else 0
    with LastLayerInput(network) as representation:
        network.eval()
        probe = network(X[: s.batch_size])
        # Each row's representation is flattened: a convolution's input is (channels, h, w).
        critic = BiasCritic(s.batch_size, representation.value[0].numel()).to(X.device)
        # On CPU, Adam defaults to a Python loop over tensors; the multi-tensor
        # kernels take the same steps with less overhead.
        critic_optimizer = torch.optim.Adam(critic.parameters(), lr=s.critic_lr, foreach=True)
        network_optimizer = torch.optim.Adam(
            [p for p in network.parameters() if p.requires_grad], lr=s.lr, foreach=True
        )
        class_weight = _outputs.class_weight(y, probe) if s.balanced else None

        def random_batch():
            return torch.randint(0, len(y), (s.batch_size,), device=X.device)

        def network_loss(index):
            logit = network(X[index])
            task = fairness_aware_loss(
                logit, y[index], sensitive[index], bias_metric, surrogate_weight, class_weight
            )
            if not uses_critic:
                return task
            # The critic reads the representation of the forward pass just made.
            estimated_bias = critic(representation.value).abs()
            return torch.clamp(s.lam * (estimated_bias - s.epsilon + s.margin) + 1.0, min=1.0) * task

        best_rank, best_state, history = None, None, []
        for epoch in range(s.epochs):
            network.eval()
            critic.train().requires_grad_(True)
            critic_total = 0.0
            frozen_pass = _FrozenPass(network, representation, X, critic_steps * s.batch_size)
            for _ in range(critic_steps):
                index = random_batch()
                output, features = frozen_pass(index)
                with torch.no_grad():
                    target = _outputs.soft_bias(y[index], output, sensitive[index], bias_metric)
                estimate = critic(features)
                loss = (estimate - torch.nan_to_num(target, nan=0.0)) ** 2
                critic_optimizer.zero_grad()
                loss.backward()
                critic_optimizer.step()
                critic_total += check_finite(loss.item(), "the bias critic", epoch + 1)

            network.train()
            # The critic only passes gradients through to the network in this phase.
            critic.eval().requires_grad_(False)
            network_total = 0.0
            for _ in range(s.network_steps):
                index = random_batch()
                loss = network_loss(index)
                if augment is not None:
                    with augment.widened():
                        loss = loss + augment.scale * network_loss(index)
                network_optimizer.zero_grad()
                loss.backward()
                network_optimizer.step()
                network_total += check_finite(loss.item(), "fine-tuning", epoch + 1)

            record = {
                "epoch": epoch + 1,
                "critic_loss": critic_total / max(1, critic_steps),
                "loss": network_total / max(1, s.network_steps),
                **(score_epoch(network) if score_epoch is not None else {}),
            }
            history.append(record)
            if on_epoch_end is not None:
                on_epoch_end(record)
            if score_epoch is not None and (best_rank is None or record["rank"] > best_rank):
                best_rank, best_state = record["rank"], copy.deepcopy(network.state_dict())

    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    return history
