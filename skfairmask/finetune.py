"""Fairness fine-tuning of a whole network, respecting a frozen-zero mask.

Three losses, chosen by :attr:`FinetuneSettings.loss`:

* ``"critic"`` (Savani et al. 2020): a critic reads the penultimate
  representation of a whole batch, flattened, and learns to regress that
  batch's bias. The network then minimises ``max(1, λ(|b̂| − ε + critic_margin) + 1) · BCE``,
  where ``b̂`` is the critic's estimate, so that the task loss is scaled up
  while the critic still sees bias. The two phases alternate.
* ``"surrogate"``: no critic; the network minimises ``BCE + λ_s·|soft bias|``,
  the differentiable bias of the batch's probabilities.
* ``"both"``: the critic's scale times ``BCE + λ_s·|soft bias|``.

After each epoch the network is scored by the caller's ``score_epoch``
(the fairness objective on the selection rows), and the best epoch is kept.

The loop is composed from small parts, on the model of skorch's callbacks:
:class:`KeepBest` keeps the best epoch by the caller's score, :class:`EachEpoch`
ticks a progress bar, and network augmentation adds a term to each step's loss
(:class:`~skfairmask.strategies.MaskAugmentation`). Pruned weights stay exactly
zero when the network is fine-tuned inside :func:`skfairmask.pruning.masked`.
"""

import copy
from dataclasses import dataclass

import torch
from torch import nn

from . import _outputs
from .masking import check_finite, fairness_aware_loss
from .network import LastLayerInput

__all__ = [
    "FINETUNE_LOSSES",
    "FIXED_SETTINGS",
    "BiasCritic",
    "EachEpoch",
    "FinetuneCallback",
    "FinetuneSettings",
    "KeepBest",
    "finetune_network",
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


#: The settings of fine-tuning that are fixed, not exposed. Savani et al. run 32 epochs of 201 critic
#: and 301 network steps at a learning rate of 1e-4, with the critic alone; on Adult that moved the
#: network too little in a 30-second budget, so fine-tuning takes fewer, larger steps (lr 1e-3), adds
#: the differentiable bias surrogate to the network's loss, and weighs the classes equally, since
#: performance is balanced accuracy (``docs/method.md``, section 5). λ and the critic's margin are
#: Savani et al.'s tabular values.
FIXED_SETTINGS = dict(critic_steps=60, network_steps=100, batch_size=64, lr=1e-3, critic_lr=1e-3, lam=0.75,
                      critic_margin=0.02, balanced=True)


@dataclass(frozen=True)
class FinetuneSettings:
    """Hyperparameters of :func:`finetune_network`, every one required.

    The estimator builds them from its parameters (``finetune_loss``,
    ``finetune_epochs``, ``finetune_fairness_weight``, ``epsilon``) and from
    :data:`FIXED_SETTINGS`.

    Attributes
    ----------
    loss : {"critic", "surrogate", "both"}
        What pulls the network towards fairness (see the module's docstring).
    epochs : int
        Alternations of the two phases.
    fairness_weight : float
        Weight of ``|soft bias|`` added to the network's loss (not used by ``"critic"``).
    epsilon : float
        The tolerance in the critic's loss scale.
    critic_steps, network_steps : int
        Steps of each phase per epoch.
    batch_size : int
        Rows per step, drawn at random; the critic reads whole batches of it.
    lr, critic_lr : float
        Adam's learning rates for the network and the critic.
    lam : float
        λ of the loss scale ``max(1, λ(|b̂| − ε + critic_margin) + 1)``.
    critic_margin : float
        The margin in that scale.
    balanced : bool
        Weigh the classes equally in the cross-entropy (positive rows by
        ``n_negative / n_positive`` for a binary network).
    """

    loss: str
    epochs: int
    fairness_weight: float
    epsilon: float
    critic_steps: int
    network_steps: int
    batch_size: int
    lr: float
    critic_lr: float
    lam: float
    critic_margin: float
    balanced: bool


class FinetuneCallback:
    """What :func:`finetune_network` calls; a subclass overrides the hooks it needs, as skorch callbacks do."""

    def extra_loss(self, network, loss_of, index):
        """A term to add to a network step's loss, or None. ``loss_of(index)`` is that step's loss function."""
        return None

    def on_epoch_end(self, network, record):
        """After each epoch, with its history record (which the hook may add to)."""

    def on_train_end(self, network):
        """After the last epoch."""


class KeepBest(FinetuneCallback):
    """Keep the epoch that ``score`` ranks highest, and restore it at the end (skorch's ``Checkpoint(load_best=True)``).

    Parameters
    ----------
    score : callable
        ``score(network) -> dict`` with a ``"rank"`` entry; its entries join
        the epoch's record. On a tie, the earlier epoch stays.
    """

    def __init__(self, score):
        self.score, self.best_rank, self.best_state = score, None, None

    def on_epoch_end(self, network, record):
        record.update(self.score(network))
        if self.best_rank is None or record["rank"] > self.best_rank:
            self.best_rank, self.best_state = record["rank"], copy.deepcopy(network.state_dict())

    def on_train_end(self, network):
        if self.best_state is not None:
            network.load_state_dict(self.best_state)


class EachEpoch(FinetuneCallback):
    """Call ``function(record)`` after each epoch (a progress bar's tick)."""

    def __init__(self, function):
        self.function = function

    def on_epoch_end(self, network, record):
        self.function(record)


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


class _Objective:
    """The network's training loss: cross-entropy, the bias surrogate, and the critic's scale."""

    def __init__(self, network, rows, representation, bias_metric, settings):
        s = settings
        self.network, self.rows, self.representation = network, rows, representation
        self.bias_metric, self.settings = bias_metric, s
        self.uses_critic = s.loss in ("critic", "both")
        self.surrogate_weight = s.fairness_weight if s.loss in ("surrogate", "both") else 0.0
        network.eval()
        probe = network(rows.X[: s.batch_size])
        # Each row's representation is flattened: a convolution's input is (channels, h, w).
        self.critic = BiasCritic(s.batch_size, representation.value[0].numel()).to(rows.X.device)
        # On CPU, Adam defaults to a Python loop over tensors; the multi-tensor
        # kernels take the same steps with less overhead.
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=s.critic_lr, foreach=True)
        self.network_optimizer = torch.optim.Adam(
            [p for p in network.parameters() if p.requires_grad], lr=s.lr, foreach=True)
        self.class_weight = _outputs.class_weight(rows.y, probe) if s.balanced else None

    def random_batch(self):
        return torch.randint(0, len(self.rows), (self.settings.batch_size,), device=self.rows.X.device)

    def loss(self, index):
        """The network's loss on the rows ``index``."""
        rows, s = self.rows, self.settings
        task = fairness_aware_loss(self.network(rows.X[index]), rows.y[index], rows.sensitive[index],
                                   self.bias_metric, self.surrogate_weight, self.class_weight)
        if not self.uses_critic:
            return task
        # The critic reads the representation of the forward pass just made.
        estimated_bias = self.critic(self.representation.value).abs()
        return torch.clamp(s.lam * (estimated_bias - s.epsilon + s.critic_margin) + 1.0, min=1.0) * task

    def train_critic(self, epoch):
        """The critic's phase: it learns to regress each batch's soft bias while the network stays fixed."""
        if not self.uses_critic:
            return 0.0
        rows, s = self.rows, self.settings
        self.network.eval()
        self.critic.train().requires_grad_(True)
        total = 0.0
        frozen_pass = _FrozenPass(self.network, self.representation, rows.X, s.critic_steps * s.batch_size)
        for _ in range(s.critic_steps):
            index = self.random_batch()
            output, features = frozen_pass(index)
            with torch.no_grad():
                target = _outputs.soft_bias(rows.y[index], output, rows.sensitive[index], self.bias_metric)
            loss = (self.critic(features) - torch.nan_to_num(target, nan=0.0)) ** 2
            self.critic_optimizer.zero_grad()
            loss.backward()
            self.critic_optimizer.step()
            total += check_finite(loss.item(), "the bias critic", epoch + 1)
        return total / s.critic_steps

    def train_network(self, epoch, callbacks):
        """The network's phase; ``callbacks`` may add terms to each step's loss."""
        s = self.settings
        self.network.train()
        # The critic only passes gradients through to the network in this phase.
        self.critic.eval().requires_grad_(False)
        total = 0.0
        for _ in range(s.network_steps):
            index = self.random_batch()
            loss = self.loss(index)
            for callback in callbacks:
                extra = callback.extra_loss(self.network, self.loss, index)
                if extra is not None:
                    loss = loss + extra
            self.network_optimizer.zero_grad()
            loss.backward()
            self.network_optimizer.step()
            total += check_finite(loss.item(), "fine-tuning", epoch + 1)
        return total / max(1, s.network_steps)


def finetune_network(network, rows, *, bias_metric, settings, callbacks=()):
    """Fine-tune ``network`` in place towards fairness, alternating the critic's and the network's phases.

    Parameters
    ----------
    network : torch.nn.Module
        Returns the favourable-class logit, shape (n,), or the class logits,
        shape (n, k). Trained in place.
    rows : Rows
        The rows to train on, on the network's device.
    bias_metric : str
    settings : FinetuneSettings
    callbacks : sequence of FinetuneCallback, default=()
        Called in order after each epoch and at the end (:class:`KeepBest`,
        :class:`EachEpoch`, network augmentation's extra loss).

    Returns
    -------
    list of dict
        One record per epoch: ``epoch``, ``critic_loss`` (0 without a
        critic), ``loss``, and what the callbacks added.
    """
    history = []
    with LastLayerInput(network) as representation:
        objective = _Objective(network, rows, representation, bias_metric, settings)
        for epoch in range(settings.epochs):
            record = {"epoch": epoch + 1, "critic_loss": objective.train_critic(epoch),
                      "loss": objective.train_network(epoch, callbacks)}
            for callback in callbacks:
                callback.on_epoch_end(network, record)
            history.append(record)
    for callback in callbacks:
        callback.on_train_end(network)
    network.eval()
    return history
