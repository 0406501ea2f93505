"""Wall time of a 12-candidate × 3-fold GridSearchCV on German (age), with n_jobs=1 and n_jobs=2.

The DESIGN §3 protocol's validation split of German (200 rows), its cached
base network, and a grid over ``tau`` × ``beta`` × ``strategy`` scored by Φ.
Both runs search the same grid with the same seeds; their best parameters
must agree. Run from the repository root, with nothing else running:

    python benchmarks/grid_search_speed.py

Writes benchmarks/results/grid_search_speed.md and .json.
"""

import json
import os
import time

import sklearn
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skfairmask import FairMaskDebiaser, make_phi_scorer
from skfairmask.datasets import load_german, protocol_split
from skfairmask.objective import DEFAULT_CONFIDENCE

from _common import RESULTS, base_network

GRID = {"tau": [0.01, 0.1], "beta": [0.01, 0.1, 1.0], "strategy": ["prune", "prune_advft"]}


def main():
    X, y, A = load_german("age")
    split = protocol_split(X, y, A, random_state=0)
    net = base_network(split, "german", "age", 0)
    Xv, yv, Av = split.validation
    sklearn.set_config(enable_metadata_routing=True)
    runs = {}
    for n_jobs in (1, 2):
        search = GridSearchCV(
            FairMaskDebiaser(FrozenEstimator(net), bias_metric="spd", random_state=0), GRID,
            scoring=make_phi_scorer("spd", epsilon=0.05), cv=StratifiedKFold(3, shuffle=True, random_state=0),
            n_jobs=n_jobs,
        )
        start = time.perf_counter()
        search.fit(Xv, yv, sensitive=Av)
        runs[n_jobs] = {"seconds": time.perf_counter() - start, "best_params": search.best_params_,
                        "best_score": float(search.best_score_),
                        "mean_test_score": [float(v) for v in search.cv_results_["mean_test_score"]],
                        "params": [dict(p) for p in search.cv_results_["params"]]}
        print(n_jobs, runs[n_jobs], flush=True)
    speedup = runs[1]["seconds"] / runs[2]["seconds"]
    scores = [runs[n]["mean_test_score"] for n in (1, 2)]
    agree = runs[1]["best_params"] == runs[2]["best_params"]
    differing = [p for p, a, b in zip(runs[1]["params"], *scores) if a != b]
    RESULTS.mkdir(exist_ok=True)
    info = {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "rows": int(len(yv)),
            "candidates": 12, "folds": 3}
    (RESULTS / "grid_search_speed.json").write_text(json.dumps({"setup": info, "runs": runs}, indent=1))
    table = "\n".join([
        "# GridSearchCV on German (age), 12 candidates × 3 folds", "",
        f"Produced by `python benchmarks/grid_search_speed.py`: {info['rows']} validation rows, "
        f"{info['cpu_count']} CPU cores, grid {GRID}, Φ (SPD, ε = 0.05).", "",
        "| n_jobs | wall seconds | best parameters | best Φ (cross-validated) |", "|---|---|---|---|",
        *[f"| {n} | {r['seconds']:.1f} | {r['best_params']} | {r['best_score']:.3f} |" for n, r in runs.items()],
        "", f"Speed-up of n_jobs=2 over n_jobs=1: {speedup:.2f}×.", "",
        f"Best parameters {'agree' if agree else 'differ'}; {len(differing)} of 12 candidates scored "
        "differently in the two runs" + (f": {differing}." if differing else ".") + " Each fit runs on "
        "torch threads of its own (`n_threads`, one for this network) whichever n_jobs runs it, so both "
        "searches do the same arithmetic.",
        "", f"The scorer bounds |SPD| at {DEFAULT_CONFIDENCE:.0%} confidence on each fold's scored rows (about 67 here); a "
        "candidate whose bound exceeds ε scores 0, and on rows this few even a constant prediction's "
        "bound does. The table times the search; it does not tune anything (docs/tuning.md does).", ""])
    (RESULTS / "grid_search_speed.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
