"""Savani et al.'s gradient-free baselines: random perturbation and layer-wise optimisation.

Neither trains on the rows, so each candidate is ranked by the fairness
objective on the larger, training share of the debiasing rows; the final rule
is still chosen on the selection rows and certified on the safety rows, which
the search never saw.
"""

import contextlib

import optuna
import torch

from ..selection import selection_summary
from ._base import StrategyResult
from ._steps import all_kept, timed

__all__ = ["layerwise_opt", "random_perturbation"]

#: Perturbed copies tried by ``random_perturbation`` (Savani et al. use 101).
PERTURBATION_TRIALS = 101

#: Relative scale of the multiplicative noise ``θ·(1 + scale·N(0, 1))``.
PERTURBATION_SCALE = 0.1

#: ``layerwise_opt`` searches the last this many parameter tensors, one at a time.
LAYERWISE_TENSORS = 5

#: Objective evaluations per tensor.
LAYERWISE_CALLS = 20

#: Each element may move this many standard deviations of its tensor from its value.
LAYERWISE_SPAN = 2.2


def _searched_rank(network, data, settings):
    """The search's objective: the objective's rank of ``network``'s best rule on the training rows."""
    return selection_summary(network, data, settings.objective, rows=data.train)["rank"]


@torch.no_grad()
def _perturb(network, data, settings, progress):
    tick = progress("random perturbation", PERTURBATION_TRIALS)
    original = {name: p.detach().clone() for name, p in network.named_parameters()}
    best_rank, best_state, history = _searched_rank(network, data, settings), None, []
    for trial in range(1, PERTURBATION_TRIALS + 1):
        for name, p in network.named_parameters():
            p.copy_(original[name] * (1.0 + PERTURBATION_SCALE * torch.randn_like(p)))
        rank = _searched_rank(network, data, settings)
        record = {"trial": trial, "rank": rank}
        history.append(record)
        tick(record)
        if rank > best_rank:
            best_rank, best_state = rank, {name: p.detach().clone() for name, p in network.named_parameters()}
    for name, p in network.named_parameters():
        p.copy_(original[name] if best_state is None else best_state[name])
    return history


def random_perturbation(network, data, settings, progress):
    """Try multiplicative noise on every parameter; keep the copy with the best Φ.

    The unperturbed network is candidate zero, so the search never does worse
    than ``none`` on the rows it scores on.
    """
    result = StrategyResult(network, all_kept(network))
    with timed(result.timings, "search"):
        result.history["search"] = _perturb(network, data, settings, progress)
    return result


@contextlib.contextmanager
def _quiet_optuna():
    """Silence optuna's per-trial log lines, restoring the user's verbosity after."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _search_tensor(network, parameter, data, settings, seed):
    """Search the elements of one tensor with optuna's TPE surrogate; set the best found."""
    start = parameter.detach().clone()
    flat = start.flatten().tolist()
    span = LAYERWISE_SPAN * float(start.std()) if start.numel() > 1 else LAYERWISE_SPAN * abs(flat[0])
    span = span or 1e-3
    space = {
        f"w{i}": optuna.distributions.FloatDistribution(value - span, value + span)
        for i, value in enumerate(flat)
    }
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({f"w{i}": value for i, value in enumerate(flat)})  # the current values first
    for _ in range(LAYERWISE_CALLS):
        trial = study.ask(space)
        with torch.no_grad():
            parameter.copy_(torch.tensor([trial.params[f"w{i}"] for i in range(len(flat))]).view_as(start))
        study.tell(trial, _searched_rank(network, data, settings))
    best = study.best_trial.params
    with torch.no_grad():
        parameter.copy_(torch.tensor([best[f"w{i}"] for i in range(len(flat))]).view_as(start))
    return study.best_value


def _layerwise(network, data, settings, progress):
    tensors = list(network.named_parameters())[-LAYERWISE_TENSORS:]
    tick = progress("layer-wise search", len(tensors))
    history = []
    # From the output backwards, as Savani et al. do: the last layers act most directly on the output.
    for name, parameter in reversed(tensors):
        seed = int(torch.randint(0, 2**31 - 1, ()))
        record = {"tensor": name, "rank": _search_tensor(network, parameter, data, settings, seed)}
        history.append(record)
        tick(record)
    return history


def layerwise_opt(network, data, settings, progress):
    """Gradient-free search over the elements of the last parameter tensors, one tensor at a time.

    Each tensor's elements stay within ±2.2 standard deviations (of the tensor)
    of their values; optuna's TPE sampler models Φ from 20 evaluations per
    tensor, the first at the current values, and the best evaluation is kept.
    """
    result = StrategyResult(network, all_kept(network))
    with _quiet_optuna(), timed(result.timings, "search"):
        result.history["search"] = _layerwise(network, data, settings, progress)
    return result
