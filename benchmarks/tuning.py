"""Does a GridSearchCV over the debiaser beat its defaults on test? Each refit rule, paired with them.

On the 90 (cell, seed) pairs of ``quality.py``'s ``aware`` protocol (18 cells,
seeds 0–4): the 60/20/20 split and base network of ``quality.py``, then one
2-fold GridSearchCV on the validation split over :data:`GRID` (the defaults
first), scored by ``make_phi_scorer`` at the default confidence (the debiaser
fits at it too). Each refit rule of :data:`RULES` is applied to the same
search's folds; the candidates they pick, and the first (the defaults,
untuned), are refitted on the whole validation split and scored on test, and
each rule is compared pair by pair with the defaults. A rule added later needs the pairs searched again.

Each pair is stored as it finishes under benchmarks/cache/tuning/, so an
interrupted run resumes and two can run side by side::

    python benchmarks/tuning.py --cells adult:sex:spd adult:race:spd --seeds 0 1
    python benchmarks/tuning.py --report

Writes benchmarks/results/tuning.json (every pair) and tuning.md.
"""

import json
import time
import warnings

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skfairmask import FairMaskDebiaser, make_phi_scorer, select_within_noise
from skfairmask.datasets import protocol_split
from skfairmask.model_selection import SELECTION_CONFIDENCE
from skfairmask.objective import DEFAULT_CONFIDENCE

from _common import (CACHE, CERTIFICATION_ONLY, CERTIFICATION_ONLY_NOTE, RESULTS, base_network, collect_then_report,
                     load, run_file, stored_runs, write_results)
from quality import CELLS, EPSILON, figures_on_test

#: The default's strategy, and pruning's sparsity and mask epochs; the defaults come first.
GRID = [{"strategy": ["auto", "prune_advft"]}, {"strategy": ["prune_advft"], "beta": [0.003, 0.03]},
        {"strategy": ["prune_advft"], "epochs": [5, 20]}]
SEEDS = range(5)
N_SPLITS = 2
#: The confidence of the debiaser and of the scorer in the searches: the default a user gets. The report
#: names it, since the committed searches are only valid for the level they ran at.
CONFIDENCE = DEFAULT_CONFIDENCE
RUNS = CACHE / "tuning"


def _one_standard_error(cv_results):
    """The rule select_within_noise replaced, kept for comparison: the first candidate within one
    standard error (of the best candidate's mean over the folds) of the best mean score."""
    folds = np.column_stack([cv_results[f"split{k}_test_score"] for k in range(N_SPLITS)])
    mean = np.nan_to_num(folds.mean(axis=1), nan=-np.inf)
    best = int(np.argmax(mean))
    floor = mean[best] - np.nan_to_num(folds[best].std()) / np.sqrt(N_SPLITS)
    return int(np.flatnonzero(mean >= floor)[0])


#: Refit rules, by the name the tables give them: each maps the folds' scores to a candidate.
RULES = {
    f"select_within_noise() (paired, at {SELECTION_CONFIDENCE:.0%})": select_within_noise(),
    "best mean score (refit=True)": select_within_noise(None),
    "one standard error of the best": _one_standard_error,
}


def search_one(cell, seed):
    """One search on one pair: each candidate's parameters and fold scores, and the test figures of the
    candidates some rule refits (the defaults always among them)."""
    dataset, protected, metric = cell.split(":")
    X, y, A = load(dataset, protected)
    split = protocol_split(X, y, A, random_state=seed)
    net = base_network(split, dataset, protected, seed)
    (Xv, yv, Av), (Xt, _, _) = split.validation, split.test
    debiaser = FairMaskDebiaser(FrozenEstimator(net), bias_metric=metric, epsilon=EPSILON, confidence=CONFIDENCE,
                                random_state=seed, **CERTIFICATION_ONLY)
    start = time.perf_counter()
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(debiaser, GRID, scoring=make_phi_scorer(metric, epsilon=EPSILON, confidence=CONFIDENCE),
                              refit=False, cv=StratifiedKFold(N_SPLITS, shuffle=True, random_state=seed),
                              error_score=0.0).fit(Xv, yv, sensitive=Av)
    seconds = time.perf_counter() - start
    results = search.cv_results_
    # Only the candidates a rule picks are refitted: refitting all six would double the cost of a pair.
    picked = sorted({0, *(rule(results) for rule in RULES.values())})
    tests = {str(index): figures_on_test(clone(debiaser).set_params(**results["params"][index]).fit(
        Xv, yv, sensitive=Av).predict(Xt), split, metric) for index in picked}
    return {"params": results["params"], "split_scores": np.column_stack(
        [results[f"split{k}_test_score"] for k in range(N_SPLITS)]).tolist(), "tests": tests,
        "search_seconds": seconds}


def collect(cells, seeds):
    """Search every pair not yet stored, in the run files or the committed results."""
    RUNS.mkdir(parents=True, exist_ok=True)
    done = load_runs()
    # Seed by seed, so that a run stopped early has covered every cell alike.
    for seed in seeds:
        for cell in cells:
            path = run_file(RUNS, cell, seed)
            if path.exists() or f"{cell}|{seed}" in done:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = search_one(cell, seed)
            path.write_text(json.dumps(result, indent=1))
            print(f"{cell}|{seed}: fold means {np.mean(result['split_scores'], axis=1).round(3)}, test Φ "
                  f"{ {int(i): round(t['phi'], 3) for i, t in result['tests'].items()} }, "
                  f"{result['search_seconds']:.0f} s", flush=True)


def load_runs():
    """Every stored pair, keyed ``cell|seed``: the committed JSON, then the run files."""
    path = RESULTS / "tuning.json"
    runs = {f"{r['cell']}|{r['seed']}": r for r in json.loads(path.read_text())} if path.exists() else {}
    for cell, seed, stored in stored_runs(RUNS):
        runs[f"{cell}|{seed}"] = {"cell": cell, "seed": seed, **stored}
    return runs


def picks(runs):
    """One row per (pair, rule): the candidate the rule refits and its test figures."""
    rows = []
    for run in runs.values():
        scores = np.asarray(run["split_scores"], dtype=float)
        folds = {f"split{k}_test_score": scores[:, k] for k in range(scores.shape[1])}
        chosen = {"the defaults, untuned": 0, **{name: rule(folds) for name, rule in RULES.items()}}
        dataset, _, metric = run["cell"].split(":")
        for name, index in chosen.items():
            test = run["tests"][str(index)]
            rows.append({"cell": run["cell"], "seed": run["seed"], "dataset": dataset,
                         "rule": name, "index": index, "params": json.dumps(run["params"][index]),
                         "phi": test["phi"], "fair": abs(test[metric]) < EPSILON,
                         "constant": test["constant"],
                         "balanced_accuracy": test["balanced_accuracy"]})
    return pd.DataFrame(rows)


def _rule_lines(data):
    phi = data.pivot_table(index=["cell", "seed"], columns="rule", values="phi")
    moved = data.pivot_table(index=["cell", "seed"], columns="rule", values="index") != 0
    lines = ["| refit | pairs | mean test Φ (fair, constant) | per pair, against the defaults | pairs that left "
             "the defaults | of them, Φ up / down |", "|---|---|---|---|---|---|"]
    for rule in data.rule.unique():
        rows, gap = data[data.rule == rule], phi[rule] - phi["the defaults, untuned"]
        se = gap.std(ddof=1) / np.sqrt(len(gap)) if len(gap) > 1 else np.nan
        left = moved[rule]
        lines.append(f"| {rule} | {len(rows)} | {rows.phi.mean():.3f} ({rows.fair.mean():.0%}, "
                     f"{rows.constant.mean():.0%}) | {gap.mean():+.3f} ± {se:.3f} | {int(left.sum())} "
                     f"| {int((gap[left] > 0.0005).sum())} / {int((gap[left] < -0.0005).sum())} |")
    return lines + [""]


def report():
    runs = load_runs()
    if not runs:
        raise SystemExit("No runs yet: run some cells first.")
    data = picks(runs)
    lines = ["# Tuning the debiaser with GridSearchCV, against its defaults (test split, ε = 0.05)", "",
             CERTIFICATION_ONLY_NOTE, "",
             f"Produced by `python benchmarks/tuning.py`. One {N_SPLITS}-fold GridSearchCV per (cell, seed) of "
             f"`quality.py`'s `aware` protocol, on the validation split, over {GRID} (the defaults first), scored "
             f"by `make_phi_scorer` at confidence {CONFIDENCE:.0%}, the debiaser's too. Each refit rule was "
             "applied to the same folds, and its pick refitted on the whole validation split and scored on test. "
             "Φ is the test balanced accuracy where test |bias| < ε, else 0; *fair* the share of pairs "
             "fair on test, *constant* the share predicting one class for everyone (fair and useless). The gap "
             "is paired, pair by pair, with ± one standard error.", "", f"## All pairs ({len(runs)} of "
             f"{len(CELLS) * len(SEEDS)})", "",
             *_rule_lines(data)]
    for dataset, part in data.groupby("dataset", sort=False):
        lines += [f"## {dataset}", "", *_rule_lines(part)]
    write_results("tuning", pd.DataFrame(list(runs.values())), "\n".join(lines) + "\n")


def main():
    collect_then_report(__doc__, collect, report,
                        cells=dict(nargs="+", default=CELLS, help="dataset:attribute:metric"),
                        seeds=dict(type=int, nargs="+", default=list(SEEDS)))


if __name__ == "__main__":
    main()
