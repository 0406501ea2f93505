"""What the certificate costs and buys: certified fits against choices made on all of a fit's rows, uncertified.

On small data a fit certifies only near-constant rules (COMPAS) or none
(German), while a post-processor that reads every validation row, such as
ThresholdOptimizer, keeps an accurate rule. This script asks what each way
of choosing gives. Every variant chooses among the same candidates (the
output offset's ``(scale, threshold)`` rules):

* ``certified, else the surest rule`` (``fallback="surest"``): the certified
  rule; where none is both fair and better than a constant, the rule the
  certification ended on (a constant, on small data);
* ``certified, else the most accurate under the bound`` (the default,
  ``fallback="most_accurate"``): the certified rule; where there is none, the
  next variant's choice;
* ``most accurate under the bound``: never certified, the most accurate rule
  whose bound on ``|bias|`` at the confidence, on every row given to ``fit``
  (choice and safety rows together), is under ε (the surest rule if none is):
  the choice a certificate-free fit would make with the same bounds;
* ``expected Φ``: never certified, the rule with the highest balanced
  accuracy times chance of ``|bias| < ε`` (``FairnessObjective.fair_chance``),
  both on all the rows.

Every variant is fitted on the same split and base network as ``quality.py``
(its cells and seeds, either protocol), so the gaps are paired by (cell,
seed). Each (protocol, cell, seed) is stored as it finishes under
benchmarks/cache/uncertified/::

    python benchmarks/uncertified.py                      # the aware protocol
    python benchmarks/uncertified.py --protocol unaware
    python benchmarks/uncertified.py --report

Writes benchmarks/results/uncertified.md and .json.
"""

import contextlib
import dataclasses
import warnings
from functools import partial
from unittest import mock

import numpy as np
from sklearn.frozen import FrozenEstimator

import skfairmask._debiaser
from skfairmask import FairMaskDebiaser
from skfairmask._rows import Rows
from skfairmask.selection import Selection, evaluate_network

from _common import (CACHE, PROTOCOLS, collect_then_report, collect_variants, paired_gap, run_figures,
                     stored_variants, variants_frame, write_results)
from quality import CELLS, EPSILON, SEEDS, figures_on_test

RUNS = CACHE / "uncertified"
DEFAULT = "certified, else the most accurate under the bound"
SUREST = "certified, else the surest rule"
#: Variant → what it maximises over the candidates evaluated on all rows (None: the package's own choice,
#: with its fallback).
VARIANTS = {
    SUREST: None,
    DEFAULT: None,
    "most accurate under the bound": lambda objective, evaluation: evaluation.rank,
    "expected Φ": lambda objective, evaluation: (np.nan_to_num(evaluation.balanced_accuracy)
                                                 * objective.fair_chance(evaluation)),
}
FIGURES = ("phi", "balanced_accuracy", "fair", "constant", "tolerance_met")


def choice_on_all_rows(value):
    """A stand-in for ``certify_results`` that keeps the candidate of highest ``value`` on every row."""
    def certify_results(results, data, objective):
        (name, result), = results.items()
        rows = data.choice_rows(result.fitted_to_train)
        every = Rows.concatenate([rows, data.safety])
        evaluation, thresholds = evaluate_network(result.network, every, objective, family=result.family)
        index = int(np.argmax(value(objective, evaluation)))
        # The record of that rule on the rows that chose it: no certificate, whatever it says.
        record = dataclasses.replace(objective.certify(evaluation[[index]], evaluation[[index]]), index=index,
                                     tolerance_met=False)
        member, position = np.unravel_index(index, thresholds.shape)
        scale = None if result.family is None else result.family.members[member]
        return name, Selection(float(thresholds[member, position]), scale, record)
    return certify_results


def fit_variant(variant, net, split, metric, seed):
    """One fit of a variant; its test figures.

    Only the default falls back to ``most_accurate_uncertified``: the others' fits certify nothing by
    design, or return the surest rule.
    """
    fallback = "most_accurate" if variant == DEFAULT else "surest"
    debiaser = FairMaskDebiaser(FrozenEstimator(net), bias_metric=metric, epsilon=EPSILON, random_state=seed,
                                fallback=fallback)
    value = VARIANTS[variant]
    patch = (contextlib.nullcontext() if value is None
             else mock.patch.object(skfairmask._debiaser, "certify_results", choice_on_all_rows(value)))
    with patch, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        debiaser.fit(*split.validation[:2], sensitive=split.validation[2])
    figures = figures_on_test(debiaser.predict(split.test[0]), split, metric)
    return {**figures, "fair": bool(abs(figures[metric]) < EPSILON), "tolerance_met": bool(debiaser.tolerance_met_)}


def collect(protocol):
    """Fit every variant on every missing (cell, seed) of ``protocol``, saving each as it finishes."""
    collect_variants(RUNS, stored(), protocol, CELLS, SEEDS,
                     {variant: partial(fit_variant, variant) for variant in VARIANTS})


def stored():
    """Every stored (protocol, cell, seed): the committed results, then the run files."""
    return stored_variants("uncertified", RUNS)


def frame():
    """One row per fit: its (protocol, cell, seed), variant and :data:`FIGURES`."""
    return variants_frame(stored(), FIGURES)


def report():
    data = frame()
    lines = ["# What the certificate costs and buys (ε = 0.05)", "",
             "Produced by `python benchmarks/uncertified.py` (`--protocol unaware` for the second protocol). The "
             "default fit (certified, else the most accurate rule under the bound on all its rows), the same fit "
             "returning its surest rule where it certifies nothing, and the same fit with its final choice made on "
             "all of its rows and certified nowhere (see the script's docstring), on the cells and seeds of "
             "`quality.py`, paired by (cell, seed): gap "
             "to the default, mean ± standard error (wins / losses). *fair* is the share of runs fair on test, "
             "*constant* the share predicting one class for every test row, *certified* the share whose fit "
             "claimed the tolerance.", "",
             "| protocol | dataset | variant | runs | mean test Φ (fair, constant) | certified "
             "| balanced accuracy of the fair runs | gap to the default |", "|---|---|---|---|---|---|---|---|"]
    for (protocol, dataset), rows in data.groupby(["protocol", "dataset"], sort=False):
        default = rows[rows.variant == DEFAULT].set_index(["cell", "seed"]).phi
        for variant in VARIANTS:
            part = rows[rows.variant == variant]
            paired = "" if variant == DEFAULT else paired_gap(part, default)
            lines.append(f"| {protocol} | {dataset} | {variant} | {run_figures(part)} | {paired} |")
    write_results("uncertified", data, "\n".join(lines) + "\n")


if __name__ == "__main__":
    collect_then_report(__doc__, collect, report, protocol=dict(choices=PROTOCOLS, default="aware"))
