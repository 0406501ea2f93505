"""Recovery strategies, one function each, registered in one table.

Every strategy has the signature ``strategy(network, data, settings, progress)``:

* ``network``: a private :class:`~skfairmask.network.FavourableLogit` copy, free to change;
* ``data``: :class:`DebiasData`, the debiasing rows as tensors;
* ``settings``: :class:`DebiasSettings`;
* ``progress``: ``progress(phase, total)`` returns a per-epoch callback.

and returns a :class:`StrategyResult`. Adding a strategy means writing one such
function and adding one row to :data:`STRATEGIES`.
"""

from ._base import DebiasData, DebiasSettings, StrategyResult
from ._recovery import adv_ft, none, prune, prune_advft

__all__ = ["STRATEGIES", "DebiasData", "DebiasSettings", "StrategyResult"]

#: Strategy name → function; the estimator's ``strategy`` parameter reads this table.
STRATEGIES = {
    "none": none,
    "prune": prune,
    "prune_advft": prune_advft,
    "adv_ft": adv_ft,
}
