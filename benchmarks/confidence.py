"""Which confidence should be the default? The default fit at several confidences, on every cell and seed.

The confidence trades accuracy for surety: a higher one widens the bounds,
so the rules certified are fairer and less accurate, and more fits end at a
constant rule. On the ``aware`` protocol of ``quality.py`` (the same splits
and cached base networks), the default estimator is fitted at each
confidence of ``CONFIDENCES``; the table gives, per dataset, the share of
runs fair on test, the share certified, the share constant, and the mean
test Φ. Run from the repository root::

    python benchmarks/confidence.py
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
from skfairmask.report import fairness_summary

from _common import CACHE, base_network, collect_then_report, load, write_results
from quality import CELLS, EPSILON, SEEDS

CONFIDENCES = (0.8, 0.9, 0.95, 0.99)
RUNS = CACHE / "confidence.json"


def collect():
    done = json.loads(RUNS.read_text()) if RUNS.exists() else {}
    for cell in CELLS:
        dataset, protected, metric = cell.split(":")
        X, y, A = load(dataset, protected)
        for seed in SEEDS[dataset]:
            split = protocol_split(X, y, A, random_state=seed)
            net = base_network(split, dataset, protected, seed)
            for confidence in CONFIDENCES:
                key = f"{cell}|{seed}|{confidence}"
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
                             "bias": summary[metric], "certified": deb.tolerance_met_,
                             "constant": bool(len(np.unique(predictions)) == 1)}
                RUNS.write_text(json.dumps(done, indent=1))
            print(cell, seed, flush=True)


def frame():
    rows = []
    for key, result in json.loads(RUNS.read_text()).items():
        cell, seed, confidence = key.split("|")
        rows.append({"dataset": cell.split(":")[0], "cell": cell, "seed": int(seed), "confidence": float(confidence),
                     **result, "fair": abs(result["bias"]) < EPSILON})
    return pd.DataFrame(rows)


def markdown(data):
    lines = ["# The default at several confidences (aware protocol, every cell and seed, ε = 0.05)", "",
             "Produced by `python benchmarks/confidence.py`: the default `FairMaskDebiaser`, fitted on the "
             "validation split of each (cell, seed) of `quality.md` at each confidence, scored on its test split. "
             "*fair* is the share of runs with test |bias| < ε, *certified* the share that certified it "
             "(`tolerance_met_`), *constant* the share that predicted one class for every test row.", "",
             "| dataset | confidence | runs | fair on test | certified | constant | mean test Φ "
             "| balanced accuracy of the fair runs |", "|---|---|---|---|---|---|---|---|"]
    for (dataset, confidence), part in data.groupby(["dataset", "confidence"], sort=False):
        lines.append(f"| {dataset} | {confidence:.2f} | {len(part)} | {part.fair.mean():.0%} | {part.certified.mean():.0%} "
                     f"| {part.constant.mean():.0%} | {part.phi.mean():.3f} "
                     f"| {part[part.fair].balanced_accuracy.mean():.3f} |")
    return "\n".join(lines) + "\n"


def report():
    data = frame()
    write_results("confidence", data, markdown(data.sort_values(["dataset", "confidence"])))


def main():
    collect_then_report(__doc__, collect, report)


if __name__ == "__main__":
    main()
