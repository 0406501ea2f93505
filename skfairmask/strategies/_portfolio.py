"""``portfolio`` and ``auto``: strategies made of other strategies.

``portfolio`` repairs the network with several strategies and lets the final
choice pick among all their rules. ``auto`` runs the first of a list that
applies to the network.

Each member repairs its own copy of the network. The members' candidate rules
then go into one certification ladder (:func:`~skfairmask.selection.certify_results`):
each rung is the most accurate rule of any member under its share of the
tolerance, so if the best member's top rung fails on the safety rows, the
surer rungs below it, of either member, still stand. Choosing among ``k``
strategies is a wider search than running one, but the safety rows never
take part in it, so the confidence stated holds for the model returned
however many strategies competed.
"""

import copy

from ._base import StrategyNotApplicable, StrategyResult

__all__ = ["make_first_applicable", "make_portfolio"]


def make_portfolio(strategies, members):
    """The ``portfolio`` strategy over ``members``, looked up in the table ``strategies``.

    Parameters
    ----------
    strategies : dict of str to callable
        The strategy table (it will hold the portfolio too).
    members : sequence of str
        Strategy names. A member that cannot repair this network (``offset``
        on a multi-class one) is left out.

    Returns
    -------
    callable
        A strategy whose result holds its members' results as ``alternatives``.
    """

    def portfolio(network, data, settings, progress):
        alternatives = {}
        for name in members:
            try:
                alternatives[name] = strategies[name](copy.deepcopy(network), data, settings, progress)
            except StrategyNotApplicable:
                continue
        return StrategyResult(None, {}, alternatives=alternatives)

    portfolio.__doc__ = (f"Repair copies of the network with {', '.join(members)}; the final choice picks "
                         "among all their candidate rules.")
    return portfolio


def make_first_applicable(strategies, members):
    """A strategy that runs the first of ``members`` that applies to the network.

    Parameters
    ----------
    strategies : dict of str to callable
    members : sequence of str
        In order of preference; the last must apply to every network.

    Returns
    -------
    callable
        A strategy whose result holds the member that ran as its only ``alternatives`` entry,
        so that the fit records which it was.
    """

    def first_applicable(network, data, settings, progress):
        for name in members:
            try:
                return StrategyResult(None, {}, alternatives={
                    name: strategies[name](network, data, settings, progress)})
            except StrategyNotApplicable:
                continue
        raise StrategyNotApplicable(f"None of {list(members)} applies to this network.")

    first_applicable.__doc__ = f"Run the first of {', '.join(members)} that applies to the network."
    return first_applicable
