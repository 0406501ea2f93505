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
(protocol, dataset) weighing the same). Run from the repository root::

    python benchmarks/confidence.py                      # the aware protocol
    python benchmarks/confidence.py --protocol unaware
    python benchmarks/confidence.py --report

Writes benchmarks/results/confidence.md and .json.
"""

import json
import warnings

import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator

from skfairmask import FairMaskDebiaser
from skfairmask.datasets import protocol_split
from skfairmask.objective import DEFAULT_CONFIDENCE
from skfairmask.report import fairness_summary

from _common import (CACHE, PROTOCOLS, RESULTS, base_network, collect_then_report, each_cell, paired_gap,
                     write_results)
from quality import CELLS, EPSILON, SEEDS

CONFIDENCES = (0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
#: The share of runs fair on test that a level must keep on every dataset to be the default.
MIN_FAIR_SHARE = 0.95
RUNS = CACHE / "confidence.json"


def stored():
    """Every stored fit, keyed ``protocol/cell|seed|confidence``: the committed results, then the cache."""
    path = RESULTS / "confidence.json"
    committed = json.loads(path.read_text()) if path.exists() else []
    runs = {f"{r['protocol']}/{r['cell']}|{r['seed']}|{r['confidence']}":
            {key: r[key] for key in ("phi", "balanced_accuracy", "bias", "certified", "constant")}
            for r in committed}
    return {**runs, **(json.loads(RUNS.read_text()) if RUNS.exists() else {})}


def collect(protocol):
    """Fit the default at every confidence on every missing (cell, seed) of ``protocol``."""
    done = stored()
    for cell, dataset, protected, metric, (X, y, A) in each_cell(CELLS, protocol):
        for seed in SEEDS[dataset]:
            keys = {confidence: f"{protocol}/{cell}|{seed}|{confidence}" for confidence in CONFIDENCES}
            if all(key in done for key in keys.values()):
                continue
            split = protocol_split(X, y, A, random_state=seed)
            net = base_network(split, dataset, protected, seed, protocol)
            for confidence, key in keys.items():
                if key in done:
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    deb = FairMaskDebiaser(FrozenEstimator(net), bias_metric=metric, epsilon=EPSILON,
                                           confidence=confidence, random_state=seed)
                    predictions = deb.fit(*split.validation[:2], sensitive=split.validation[2]).predict(split.test[0])
                summary = fairness_summary(split.test[1], predictions, split.test[2], bias_metric=metric,
                                           epsilon=EPSILON)
                done[key] = {"phi": summary["phi"], "balanced_accuracy": summary["balanced_accuracy"],
                             "bias": summary[metric], "certified": bool(deb.tolerance_met_),
                             "constant": bool(len(np.unique(predictions)) == 1)}
                RUNS.parent.mkdir(exist_ok=True)
                RUNS.write_text(json.dumps(done, indent=1))
            print(protocol, cell, seed, flush=True)


def frame():
    rows = []
    for key, result in stored().items():
        protocol, rest = key.split("/")
        cell, seed, confidence = rest.split("|")
        rows.append({"protocol": protocol, "dataset": cell.split(":")[0], "cell": cell, "seed": int(seed),
                     "confidence": float(confidence), **result, "fair": abs(result["bias"]) < EPSILON})
    return pd.DataFrame(rows)


def chosen_level(data):
    """The level the rule picks, the levels it could pick from, and each level's mean Φ over the datasets."""
    by_dataset = data.groupby(["confidence", "protocol", "dataset"]).agg(fair=("fair", "mean"), phi=("phi", "mean"))
    levels = by_dataset.groupby("confidence").agg(worst_fair=("fair", "min"), phi=("phi", "mean"))
    eligible = levels[levels.worst_fair >= MIN_FAIR_SHARE]
    return (eligible.phi.idxmax() if not eligible.empty else None), eligible.index.tolist(), levels


def markdown(data):
    lines = ["# The default at several confidences (every cell and seed of quality.py, ε = 0.05)", "",
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
    pick, eligible, levels = chosen_level(data)
    lines += ["", f"The rule (the highest mean test Φ among the levels that kept at least {MIN_FAIR_SHARE:.0%} of runs "
              "fair on test on every dataset of the protocols measured) picks "
              f"**{pick:.2f}**" if pick is not None else "No level meets the rule's fair share.", "",
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
