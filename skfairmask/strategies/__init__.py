"""Recovery strategies, one function each, registered in one table.

Every strategy has the signature ``strategy(network, data, settings, progress)``:

* ``network``: a private :class:`~skfairmask.network.FavourableLogit` copy, free to change;
* ``data``: :class:`DebiasData`, the debiasing rows as tensors;
* ``settings``: :class:`DebiasSettings`;
* ``progress``: ``progress(phase, total)`` returns a per-epoch callback.

and returns a :class:`StrategyResult`. Adding a strategy means writing one such
function and adding one row to :data:`STRATEGIES`.
"""

from ._augmentation import netaug
from ._base import DebiasData, DebiasSettings, StrategyResult
from ._distillation import distill_prune
from ._grafting import graft_external, graft_internal, graft_noise
from ._recovery import adv_ft, none, prune, prune_advft
from ._search import layerwise_opt, random_perturbation

__all__ = ["PRUNING_STRATEGIES", "STRATEGIES", "TEACHERS", "DebiasData", "DebiasSettings", "StrategyResult"]

#: Strategy name → function; the estimator's ``strategy`` parameter reads this table.
STRATEGIES = {
    "none": none,
    "prune": prune,
    "prune_advft": prune_advft,
    "adv_ft": adv_ft,
    "graft_noise": graft_noise,
    "graft_internal": graft_internal,
    "graft_external": graft_external,
    "netaug": netaug,
    "random_perturbation": random_perturbation,
    "layerwise_opt": layerwise_opt,
    "distill_prune": distill_prune,
}

#: Strategies whose result holds the weights that its mask marks ``False`` at exactly zero.
#: Grafting with noise or internal scions fills them with new values instead.
PRUNING_STRATEGIES = frozenset({"prune", "prune_advft", "graft_external", "netaug", "distill_prune"})

#: Strategies that ``distill_prune`` may take as its teacher.
TEACHERS = frozenset(STRATEGIES) - {"distill_prune"}
