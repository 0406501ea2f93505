"""Which confidence should be the default? The default fit at several confidences, on every cell and seed.

The confidence trades accuracy for surety: a higher one widens the bounds,
so the rules certified are fairer and less accurate, and more fits end at a
constant rule. On either protocol of ``quality.py`` (the same splits and kept
base networks), the default estimator is fitted at each confidence of
``CONFIDENCES``; the table gives, per protocol and dataset, the share of runs
fair on test, the share certified, the share constant, the mean test Φ and
its gap to the default confidence, paired by (cell, seed). The rule that
chose the default is applied to the table and its pick printed: of the
levels that kept at least ``MIN_FAIR_SHARE`` of runs fair on test on every
dataset of both protocols, the one with the highest mean test Φ (each
(protocol, dataset) weighing the same), if it beats the default beyond noise
(its per-run gap to the default over every (protocol, cell, seed), less two
standard errors, above 0); else the default stays: a default moved by a gap
within noise would be chosen by luck. Each (protocol, cell, seed) is stored as it
finishes under benchmarks/cache/confidence/, so an interrupted run resumes
and the two protocols can run side by side. Run from the repository root::

    python benchmarks/confidence.py                      # the aware protocol
    python benchmarks/confidence.py --protocol unaware
    python benchmarks/confidence.py --report

Writes benchmarks/results/confidence.md and .json.
"""

import warnings
from functools import partial

import numpy as np
from sklearn.frozen import FrozenEstimator

from skfairmask import FairMaskDebiaser
from skfairmask.objective import DEFAULT_CONFIDENCE
from skfairmask.report import fairness_summary

from _common import (CACHE, CERTIFICATION_ONLY, CERTIFICATION_ONLY_NOTE, PROTOCOLS, collect_then_report,
                     collect_variants, paired_gap, stored_variants, variants_frame, write_results)
from quality import CELLS, EPSILON, SEEDS

CONFIDENCES = (0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
#: The share of runs fair on test that a level must keep on every dataset to be the default.
MIN_FAIR_SHARE = 0.95
#: One file per (protocol, cell, seed), so that both protocols can be collected side by side.
RUNS = CACHE / "confidence"
FIGURES = ("phi", "balanced_accuracy", "bias", "certified", "constant")


def fit_at(confidence, net, split, metric, seed):
    """The default fitted at one confidence on the validation split: its test figures."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        deb = FairMaskDebiaser(FrozenEstimator(net), bias_metric=metric, epsilon=EPSILON, confidence=confidence,
                               random_state=seed, **CERTIFICATION_ONLY)
        predictions = deb.fit(*split.validation[:2], sensitive=split.validation[2]).predict(split.test[0])
    summary = fairness_summary(split.test[1], predictions, split.test[2], bias_metric=metric, epsilon=EPSILON)
    return {"phi": summary["phi"], "balanced_accuracy": summary["balanced_accuracy"], "bias": summary[metric],
            "certified": bool(deb.tolerance_met_), "constant": bool(len(np.unique(predictions)) == 1)}


def stored():
    """Every stored (protocol, cell, seed): the committed results, then the run files."""
    return stored_variants("confidence", RUNS, variant="confidence")


def collect(protocol):
    """Fit the default at every confidence on every missing (cell, seed) of ``protocol``."""
    collect_variants(RUNS, stored(), protocol, CELLS, SEEDS,
                     {str(confidence): partial(fit_at, confidence) for confidence in CONFIDENCES})


def frame():
    """One row per fit: its (protocol, cell, seed), confidence, :data:`FIGURES` and whether it was fair on test."""
    data = variants_frame(stored(), FIGURES, variant="confidence")
    return data.assign(confidence=data.confidence.astype(float), fair=data.bias.abs() < EPSILON)


def chosen_level(data):
    """The level the rule picks, the levels it could pick from, each level's mean Φ over the datasets, and the
    best eligible level's per-run gap to the default (mean, standard error, wins, losses)."""
    by_dataset = data.groupby(["confidence", "protocol", "dataset"]).agg(fair=("fair", "mean"), phi=("phi", "mean"))
    levels = by_dataset.groupby("confidence").agg(worst_fair=("fair", "min"), phi=("phi", "mean"))
    eligible = levels[levels.worst_fair >= MIN_FAIR_SHARE]
    if eligible.empty:
        return None, [], levels, None
    best = eligible.phi.idxmax()
    runs = ["protocol", "cell", "seed"]
    gap = (data[data.confidence == best].set_index(runs).phi
           - data[data.confidence == DEFAULT_CONFIDENCE].set_index(runs).phi).dropna()
    mean, spread = gap.mean(), (gap.std(ddof=1) / np.sqrt(len(gap)) if len(gap) > 1 else 0.0)
    pick = best if best == DEFAULT_CONFIDENCE or mean - 2 * spread > 0 else DEFAULT_CONFIDENCE
    return pick, eligible.index.tolist(), levels, (best, mean, spread, int((gap > 0).sum()), int((gap < 0).sum()))


def markdown(data):
    lines = ["# The default at several confidences (every cell and seed of quality.py, ε = 0.05)", "",
             CERTIFICATION_ONLY_NOTE, "",
             "Produced by `python benchmarks/confidence.py` (with `--protocol unaware` for the second protocol): "
             "the default `FairMaskDebiaser`, fitted on the validation split of each (cell, seed) of "
             "`quality.md` at each confidence, scored on its test split. *fair* is the share of runs with test "
             "|bias| < ε, *certified* the share that certified it (`tolerance_met_`), *constant* the share that "
             "predicted one class for every test row. The gap is to the default confidence "
             f"({DEFAULT_CONFIDENCE:.2f}), per (cell, seed): mean ± standard error (wins / losses).", "",
             "| protocol | dataset | confidence | runs | fair on test | certified | constant | mean test Φ "
             "| balanced accuracy of the fair runs | gap to the default |", "|---|---|---|---|---|---|---|---|---|---|"]
    for (protocol, dataset), rows in data.groupby(["protocol", "dataset"], sort=False):
        default = rows[rows.confidence == DEFAULT_CONFIDENCE].set_index(["cell", "seed"]).phi
        for confidence, part in rows.groupby("confidence"):
            paired = "" if confidence == DEFAULT_CONFIDENCE else paired_gap(part, default)
            lines.append(f"| {protocol} | {dataset} | {confidence:.2f} | {len(part)} | {part.fair.mean():.0%} "
                         f"| {part.certified.mean():.0%} | {part.constant.mean():.0%} | {part.phi.mean():.3f} "
                         f"| {part[part.fair].balanced_accuracy.mean():.3f} | {paired} |")
    pick, eligible, levels, best = chosen_level(data)
    if pick is None:
        verdict = "No level meets the rule's fair share."
    else:
        level, mean, spread, wins, losses = best
        verdict = (f"The rule (the highest mean test Φ among the levels that kept at least {MIN_FAIR_SHARE:.0%} of "
                   "runs fair on test on every dataset of the protocols measured, if it beats the default beyond "
                   "noise: its per-run gap, less two standard errors, above 0) picks "
                   f"**{pick:.2f}**")
        if level != DEFAULT_CONFIDENCE:
            verdict += (f". The highest mean is {level:.2f}'s, {mean:+.4f} ± {spread:.4f} per run against "
                        f"{DEFAULT_CONFIDENCE:.2f} ({wins} wins, {losses} losses)"
                        + (", beyond noise" if pick == level else ", within noise"))
    lines += ["", verdict, "",
              "| confidence | worst fair-on-test share over (protocol, dataset) | mean Φ over (protocol, dataset) "
              "| meets the rule |", "|---|---|---|---|"]
    for confidence, row in levels.iterrows():
        lines.append(f"| {confidence:.2f} | {row.worst_fair:.0%} | {row.phi:.3f} | "
                     f"{'yes' if confidence in eligible else 'no'} |")
    return "\n".join(lines) + "\n"


def report():
    data = frame().sort_values(["protocol", "dataset", "confidence", "cell", "seed"])
    write_results("confidence", data, markdown(data))


def main():
    collect_then_report(__doc__, collect, report, protocol=dict(choices=PROTOCOLS, default="aware"))


if __name__ == "__main__":
    main()
