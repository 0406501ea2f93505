"""Recovery strategies, one function each, registered in one table.

Every strategy has the signature ``strategy(network, data, settings, progress)``:

* ``network``: a private :class:`~skfairmask.network.FavourableLogit` copy, free to change;
* ``data``: :class:`DebiasData`, the rows as tensors (train, selection, safety);
* ``settings``: :class:`DebiasSettings`;
* ``progress``: ``progress(phase, total)`` returns a per-epoch callback;

and returns a :class:`StrategyResult`. Adding a strategy means writing one such
function and adding one row to :data:`STRATEGIES`, which says what its result
holds: whether its mask marks corrupted weights, and whether those are zero.
"""

from dataclasses import dataclass

from ._augmentation import netaug
from ._base import DebiasData, DebiasSettings, StrategyNotApplicable, StrategyResult
from ._distillation import make_distill_prune
from ._grafting import graft_external, graft_internal, graft_noise
from ._offset import OutputOffset, offset, quantile
from ._portfolio import make_first_applicable, make_portfolio
from ._recovery import adv_ft, none, prune, prune_advft
from ._search import layerwise_opt, random_perturbation

__all__ = ["AUTO", "PORTFOLIO", "STRATEGIES", "TEACHERS", "DebiasData", "DebiasSettings", "OutputOffset",
           "Strategy", "StrategyNotApplicable", "StrategyResult"]


@dataclass(frozen=True)
class Strategy:
    """One row of the strategy table.

    Attributes
    ----------
    run : callable
        ``run(network, data, settings, progress) -> StrategyResult``.
    finds_mask : bool
        Whether the result's mask marks corrupted weights (else it keeps every weight).
    prunes : bool
        Whether the weights its mask marks are exactly zero in the result
        (grafting refills them with new values instead).
    """

    run: object
    finds_mask: bool
    prunes: bool


def _table():
    table = {
        "none": Strategy(none, finds_mask=False, prunes=False),
        "prune": Strategy(prune, finds_mask=True, prunes=True),
        "prune_advft": Strategy(prune_advft, finds_mask=True, prunes=True),
        "adv_ft": Strategy(adv_ft, finds_mask=False, prunes=False),
        "graft_noise": Strategy(graft_noise, finds_mask=True, prunes=False),
        "graft_internal": Strategy(graft_internal, finds_mask=True, prunes=False),
        "graft_external": Strategy(graft_external, finds_mask=True, prunes=True),
        "netaug": Strategy(netaug, finds_mask=True, prunes=True),
        "random_perturbation": Strategy(random_perturbation, finds_mask=False, prunes=False),
        "layerwise_opt": Strategy(layerwise_opt, finds_mask=False, prunes=False),
        "offset": Strategy(offset, finds_mask=False, prunes=False),
        "quantile": Strategy(quantile, finds_mask=False, prunes=False),
    }
    runs = {name: row.run for name, row in table.items()}
    # Strategies made of others read the table they sit in; what their result holds is the member's.
    table["distill_prune"] = Strategy(make_distill_prune(runs), finds_mask=True, prunes=True)
    runs["distill_prune"] = table["distill_prune"].run
    table["auto"] = Strategy(make_first_applicable(runs, AUTO), finds_mask=False, prunes=False)
    table["portfolio"] = Strategy(make_portfolio(runs, PORTFOLIO), finds_mask=False, prunes=False)
    return table


#: What ``strategy="auto"`` runs: the first that applies. The output offset measured best on every
#: cell of both protocols of ``benchmarks/quality.py``; it needs a binary network with a Linear head,
#: so image and multi-class networks get pruning with fine-tuning.
AUTO = ("offset", "prune_advft")

#: What ``strategy="portfolio"`` repairs the network with; the final choice picks among all their rules.
PORTFOLIO = ("offset", "prune_advft")

#: Strategy name → :class:`Strategy`; the estimator's ``strategy`` parameter reads this table.
STRATEGIES = _table()

#: Strategies that ``distill_prune`` may take as its teacher: any that repairs a network itself.
TEACHERS = frozenset(STRATEGIES) - {"distill_prune", "auto", "portfolio"}
