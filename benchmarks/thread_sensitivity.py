"""Does a fit depend on the caller's torch thread count? Refits under ``torch.set_num_threads(1)`` and ``(2)``.

Torch sums floats in an order that depends on its intra-op thread count, and
a fit of sixteen fine-tuning epochs grows those last bits into different
models. ``FairMaskDebiaser`` therefore fits and predicts on a thread count of
its own (``n_threads``; one thread for a small network), whatever the caller
set. This script checks that, on every (cell, seed) of the ``aware``
protocol of ``quality.py``:

* ``default``: the default estimator, fitted after the caller's
  ``torch.set_num_threads(1)`` and after ``(2)``; its test predictions must
  be identical;
* ``prune_advft, n_threads=caller``: the strategy that fine-tunes most,
  fitted with ``n_threads`` set to the caller's count, as the code did before
  it fixed its own (seed 0 of every cell): what the fixed count prevents.

Run from the repository root::

    python benchmarks/thread_sensitivity.py            # writes the results
    python benchmarks/thread_sensitivity.py --report   # tables only

Writes benchmarks/results/thread_sensitivity.md and .json.
"""

import hashlib
import json
import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.frozen import FrozenEstimator

from skfairmask import FairMaskDebiaser
from skfairmask.datasets import protocol_split
from skfairmask.report import fairness_summary

from _common import CACHE, CERTIFICATION_ONLY, base_network, collect_then_report, load, write_results
from quality import CELLS, EPSILON, SEEDS

THREADS = (1, 2)
RUNS = CACHE / "threads.json"
VARIANTS = {"default": {}, "prune_advft, n_threads=caller": {"strategy": "prune_advft"}}


def _fit(net, split, metric, seed, threads, variant):
    torch.set_num_threads(threads)
    params = dict(VARIANTS[variant])
    if variant != "default":
        params["n_threads"] = threads
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        deb = FairMaskDebiaser(FrozenEstimator(net), bias_metric=metric, epsilon=EPSILON, random_state=seed,
                               **CERTIFICATION_ONLY, **params)
        predictions = deb.fit(*split.validation[:2], sensitive=split.validation[2]).predict(split.test[0])
    summary = fairness_summary(split.test[1], predictions, split.test[2], bias_metric=metric, epsilon=EPSILON)
    return {"phi": summary["phi"], "fair": abs(summary[metric]) < EPSILON,
            "predictions": hashlib.sha256(np.ascontiguousarray(predictions).tobytes()).hexdigest()}


def collect():
    done = json.loads(RUNS.read_text()) if RUNS.exists() else {}
    caller = torch.get_num_threads()
    try:
        for cell in CELLS:
            dataset, protected, metric = cell.split(":")
            X, y, A = load(dataset, protected)
            for seed in SEEDS[dataset]:
                for variant in VARIANTS:
                    key = f"{variant}|{cell}|{seed}"
                    if key in done or (variant != "default" and seed != 0):
                        continue
                    split = protocol_split(X, y, A, random_state=seed)
                    net = base_network(split, dataset, protected, seed)
                    done[key] = {str(t): _fit(net, split, metric, seed, t, variant) for t in THREADS}
                    RUNS.write_text(json.dumps(done, indent=1))
                    print(key, {t: r["phi"] for t, r in done[key].items()}, flush=True)
    finally:
        torch.set_num_threads(caller)


def frame():
    rows = []
    for key, runs in json.loads(RUNS.read_text()).items():
        variant, cell, seed = key.split("|")
        one, two = runs["1"], runs["2"]
        rows.append({"variant": variant, "dataset": cell.split(":")[0], "cell": cell, "seed": int(seed),
                     "identical": one["predictions"] == two["predictions"], "phi_1": one["phi"], "phi_2": two["phi"],
                     "flips": one["fair"] != two["fair"]})
    return pd.DataFrame(rows)


def markdown(data):
    lines = ["# Test predictions under the caller's torch.set_num_threads(1) and (2)", "",
             "Produced by `python benchmarks/thread_sensitivity.py`. The same estimator, seed, split and base "
             "network (the `aware` protocol of `quality.md`), fitted and used after the caller set 1 and then 2 "
             "torch threads. *Identical* compares the test predictions bit for bit.", "",
             "| variant | dataset | runs | identical test predictions | mean Φ, 1 / 2 threads | mean abs(ΔΦ) "
             "| fair on test at one count only |", "|---|---|---|---|---|---|---|"]
    for (variant, dataset), part in data.groupby(["variant", "dataset"], sort=False):
        delta = (part.phi_1 - part.phi_2).abs()
        lines.append(f"| {variant} | {dataset} | {len(part)} | {int(part.identical.sum())} | {part.phi_1.mean():.3f} "
                     f"/ {part.phi_2.mean():.3f} | {delta.mean():.3f} | {int(part.flips.sum())} |")
    return "\n".join(lines) + "\n"


def report():
    data = frame()
    write_results("thread_sensitivity", data, markdown(data))


def main():
    collect_then_report(__doc__, collect, report)


if __name__ == "__main__":
    main()
