"""Adult (sex), SPD, ε = 0.05, on the DESIGN §3 protocol: skfairmask against AIF360's ROC.

For each seed: a 60/20/20 split, the base network trained on train (cached
under benchmarks/cache/), every method fitted on the validation split only, and
every figure measured on the test split. Run from the repository root:

    python benchmarks/adult_sex_spd.py --seeds 0 1 2 3 4

Writes benchmarks/results/adult_sex_spd.md and .json.
"""

import argparse
import json
import time

import pandas as pd
from aif360.algorithms.postprocessing import RejectOptionClassification
from sklearn.frozen import FrozenEstimator

from skfairmask import FairMaskDebiaser
from skfairmask.datasets import aif360_compatible_pandas, load_adult, protocol_split, to_binary_label_dataset
from skfairmask.report import fairness_summary

from _common import RESULTS, base_network

STRATEGIES = ["none", "prune", "adv_ft", "prune_advft"]


def reject_option(net, split):
    """AIF360's ROC fitted on validation scores; needs A at prediction time."""
    (Xv, yv, Av), (Xt, yt, At) = split.validation, split.test
    groups = dict(unprivileged_groups=[{"sensitive": 0}], privileged_groups=[{"sensitive": 1}])
    roc = RejectOptionClassification(
        **groups, metric_name="Statistical parity difference", metric_lb=-0.05, metric_ub=0.05,
    )
    with aif360_compatible_pandas():
        roc.fit(to_binary_label_dataset(Xv, yv, Av),
                to_binary_label_dataset(Xv, yv, Av, scores=net.predict_proba(Xv)[:, 1]))
        predicted = roc.predict(to_binary_label_dataset(Xt, yt, At, scores=net.predict_proba(Xt)[:, 1]))
    return predicted.labels.ravel()


def run_seed(X, y, A, seed):
    split = protocol_split(X, y, A, random_state=seed)
    net = base_network(split, "adult", "sex", seed)
    (Xv, yv, Av), (Xt, yt, At) = split.validation, split.test
    rows = {"base (threshold 0.5)": fairness_summary(yt, net.predict(Xt), At)}
    for strategy in STRATEGIES:
        start = time.perf_counter()
        deb = FairMaskDebiaser(FrozenEstimator(net), strategy=strategy, random_state=seed)
        deb.fit(Xv, yv, sensitive=Av)
        rows[strategy] = {
            **fairness_summary(yt, deb.predict(Xt), At),
            "pruning_rate": deb.pruning_rate_,
            "fit_seconds": time.perf_counter() - start,
            "mask_discovery_seconds": deb.timings_.get("mask_discovery", 0.0),
            "finetune_seconds": deb.timings_.get("finetune", 0.0),
        }
    start = time.perf_counter()
    rows["aif360 ROC (needs A)"] = {
        **fairness_summary(yt, reject_option(net, split), At),
        "fit_seconds": time.perf_counter() - start,
    }
    return rows


def markdown(runs):
    frame = pd.concat({seed: pd.DataFrame(rows).T for seed, rows in runs.items()}, names=["seed", "method"])
    lines = ["# Adult (sex), SPD, ε = 0.05: test split, DESIGN §3 protocol", "",
             "Produced by `python benchmarks/adult_sex_spd.py`. Test figures; each method "
             "was fitted on the validation split only.", "", "## Per seed", "",
             frame[["phi", "balanced_accuracy", "spd", "pruning_rate", "fit_seconds"]]
             .round(3).to_string(), "", "## Mean ± std over seeds", ""]
    grouped = frame.groupby(level="method", sort=False)
    mean, std = grouped.mean(), grouped.std().fillna(0.0)
    fair = grouped["spd"].apply(lambda s: float((s.abs() < 0.05).mean()))
    lines.append("| method | Φ | balanced accuracy | SPD | seeds with test abs(SPD) < 0.05 | fit s |")
    lines.append("|---|---|---|---|---|---|")
    for method in mean.index:
        cell = lambda c: f"{mean.loc[method, c]:.3f} ± {std.loc[method, c]:.3f}"
        fit = f"{mean.loc[method, 'fit_seconds']:.1f}" if pd.notna(mean.loc[method, "fit_seconds"]) else ""
        lines.append(f"| {method} | {cell('phi')} | {cell('balanced_accuracy')} | {cell('spd')} "
                     f"| {fair[method]:.0%} | {fit} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    X, y, A = load_adult("sex")
    runs = {}
    for seed in args.seeds:
        runs[seed] = run_seed(X, y, A, seed)
        print(f"seed {seed}:", {m: round(r["phi"], 3) for m, r in runs[seed].items()}, flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "adult_sex_spd.json").write_text(json.dumps(runs, indent=1))
    table = markdown(runs)
    (RESULTS / "adult_sex_spd.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
