"""Does the stated confidence hold? Fits that claim the tolerance, and how often they break it on new data.

A Seldonian-style experiment (Thomas et al., Science 2019): on Adult (sex,
SPD) and COMPAS (race, SPD), ``BASES`` base networks are each trained on a
fixed half of the rows (stratified by group and label, scaled on it), and
the other half is split ``SPLITS`` times at random into a validation part
(40% of it, the 20% of the DESIGN protocol) and a test part (the other 60%,
larger than the protocol's, so that a test verdict rests less on the test's
own noise). On every split the default ``FairMaskDebiaser`` is fitted on the
validation part, and again with ``strategy="quantile"``, and fairlearn's
ThresholdOptimizer and AIF360's Reject Option Classification on the same
base network's scores.

For the debiaser, the share of fits that *claim* the tolerance
(``tolerance_met_``) yet are unfair on test must not exceed δ = 1 − confidence
beyond its binomial 95% interval. The peers make no claim; they are fitted to
be fair on validation, so every fit of theirs counts as one. Each (dataset,
base, split) is stored as it finishes under benchmarks/cache/guarantee/::

    python benchmarks/guarantee.py                     # every split of both datasets
    python benchmarks/guarantee.py --datasets compas --bases 0 1
    python benchmarks/guarantee.py --methods "skfairmask (default)"   # refit only the debiaser
    python benchmarks/guarantee.py --report

Where a split has no run file, the methods not named by ``--methods`` are
taken from the committed results, so a change to the debiaser is measured
without refitting the peers (Reject Option takes half a minute a fit).

Writes benchmarks/results/guarantee.md and .json.
"""

import json
import warnings

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skfairmask import FairMaskDebiaser
from skfairmask.datasets import ProtocolSplit
from skfairmask.report import fairness_summary

from _common import CACHE, RESULTS, collect_then_report, kept_network, load
from _peers import reject_option, threshold_optimizer

CELLS = {"adult": ("sex", "spd"), "compas": ("race", "spd")}
BASES, SPLITS = range(10), range(10)
EPSILON = 0.05
#: Method name → the debiaser's strategy (a string), or a peer's fit on the base network's scores.
METHODS = {"skfairmask (default)": "auto", "skfairmask (quantile)": "quantile",
           "fairlearn:threshold_optimizer": threshold_optimizer, "aif360:reject_option": reject_option}
RUNS = CACHE / "guarantee"


def _part(X, y, A, index, scaler):
    return scaler.transform(X[index]).astype(np.float32), y[index], A[index]


def split_of(X, y, A, base, split):
    """Train on a fixed half (by ``base``); validation and test drawn from the other half (by ``split``)."""
    strata = 2 * A + y
    train, rest = train_test_split(np.arange(len(y)), train_size=0.5, stratify=strata, random_state=base)
    validation, test = train_test_split(rest, train_size=0.4, stratify=strata[rest], random_state=1000 + split)
    scaler = StandardScaler().fit(X[train])
    return ProtocolSplit(*(_part(X, y, A, index, scaler) for index in (train, validation, test)))


def run_split(dataset, base, split_index, methods):
    """Fit ``methods`` (names of :data:`METHODS`) on one split; their test figures by name."""
    protected, metric = CELLS[dataset]
    X, y, A = (np.asarray(a) for a in load(dataset, protected))
    split = split_of(X.astype(np.float32), y.astype(int), A.astype(int), base, split_index)
    net = kept_network(f"guarantee_{dataset}_base{base}", split, base)
    (Xv, yv, Av), (Xt, yt, At) = split.validation, split.test
    results = {}
    for name in methods:
        peer = METHODS[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if isinstance(peer, str):
                deb = FairMaskDebiaser(FrozenEstimator(net), strategy=peer, bias_metric=metric, epsilon=EPSILON,
                                       random_state=base * 100 + split_index).fit(Xv, yv, sensitive=Av)
                predictions = deb.predict(Xt)
                extra = {"claims": deb.tolerance_met_, "certified_epsilon": deb.certified_epsilon_,
                         "confidence": deb.confidence, "strategy_": deb.strategy_}
            else:
                predictions, extra = peer(net, split, metric, EPSILON, split_index), {"claims": True}
        summary = fairness_summary(yt, predictions, At, bias_metric=metric, epsilon=EPSILON)
        rate = {g: predictions[At == g].mean() for g in (0, 1)}
        # The test estimate's own standard error: how far a fair model's test bias may stray by chance.
        test_se = float(np.sqrt(sum(rate[g] * (1 - rate[g]) / (At == g).sum() for g in (0, 1))))
        results[name] = {**summary, **extra, "bias": summary[metric], "test_se": test_se,
                         "constant": bool(len(np.unique(predictions)) == 1)}
    return results


def committed_splits():
    """The committed results of each (dataset, base, split), by method."""
    path = RESULTS / "guarantee.json"
    splits = {}
    for record in json.loads(path.read_text()) if path.exists() else []:
        splits.setdefault((record["dataset"], record["base"], record["split"]), {})[record["method"]] = record
    return splits


def collect(datasets, bases, methods):
    """Fit every split's missing methods: all of them where it has a run file, else those of ``methods``."""
    RUNS.mkdir(parents=True, exist_ok=True)
    committed = committed_splits()
    for dataset in datasets:
        for base in bases:
            for split_index in SPLITS:
                path = RUNS / f"{dataset}_base{base}_split{split_index}.json"
                if path.exists():
                    results = json.loads(path.read_text())
                else:
                    kept = committed.get((dataset, base, split_index), {})
                    results = {name: kept[name] for name in METHODS if name in kept and name not in methods}
                missing = [name for name in METHODS if name not in results]
                if not missing:
                    continue
                results.update(run_split(dataset, base, split_index, missing))
                results = {name: results[name] for name in METHODS}
                path.write_text(json.dumps(results, indent=1))
                ours = results["skfairmask (default)"]
                print(f"{dataset} base {base} split {split_index}: claims {ours['claims']}, test bias "
                      f"{ours['bias']:+.3f}, Φ {ours['phi']:.3f}", flush=True)


def frame():
    rows = []
    for path in sorted(RUNS.glob("*.json")):
        dataset, base, split_index = path.stem.split("_")
        for method, result in json.loads(path.read_text()).items():
            rows.append({"dataset": dataset, "base": int(base[4:]), "split": int(split_index[5:]), "method": method,
                         **{k: result[k] for k in ("phi", "balanced_accuracy", "bias", "claims", "test_se",
                                                   "constant")}})
    data = pd.DataFrame(rows)
    return data.assign(unfair=data.bias.abs() >= EPSILON)


def markdown(data, delta):
    lines = ["# Does the confidence hold? (Adult sex SPD, COMPAS race SPD; ε = 0.05)", "",
             f"Produced by `python benchmarks/guarantee.py`. Per dataset, {data.base.nunique()} base networks, each "
             "trained on a fixed half of the rows, and for each "
             f"{data.split.nunique()} random splits of the other half into validation (40%) and test (60%). "
             "*Claims* is the share of fits that report the tolerance met (for the debiaser, "
             "`tolerance_met_`: certified fair at its confidence and better than a constant; the peers are fitted "
             "to be fair on validation, so each of their fits claims it). *Claims but unfair* is the share of all "
             "fits that claim it while their test |bias| ≥ ε; its 95% interval is Clopper–Pearson's. *Test SE* "
             "is the test estimate's own standard error, the noise of the verdict itself.", "",
             f"The debiaser's confidence is {1 - delta:.0%}, so δ = {delta:.2f}: the share that claims and breaks "
             "the tolerance should not exceed δ beyond its interval.", "",
             "| dataset | method | fits | claims | claims but unfair (95% interval) | within δ | could not meet it "
             "| constant | fair on test | mean test Φ | mean balanced accuracy | test SE |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (dataset, method), part in data.groupby(["dataset", "method"], sort=False):
        broken = int((part.claims & part.unfair).sum())
        interval = binomtest(broken, len(part)).proportion_ci(confidence_level=0.95, method="exact")
        within = "yes" if interval.low <= delta else "no"
        lines.append(f"| {dataset} | {method} | {len(part)} | {part.claims.mean():.0%} | {broken / len(part):.1%} "
                     f"({interval.low:.1%}–{interval.high:.1%}) | {within if method.startswith('skfairmask') else '–'} "
                     f"| {(~part.claims).mean():.0%} | {part.constant.mean():.0%} | {(~part.unfair).mean():.0%} "
                     f"| {part.phi.mean():.3f} | {part.balanced_accuracy.mean():.3f} | {part.test_se.mean():.3f} |")
    return "\n".join(lines) + "\n"


def report():
    data = frame()
    if data.empty:
        raise SystemExit("No runs yet.")
    delta = 1 - FairMaskDebiaser().confidence
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "guarantee.json").write_text(data.to_json(orient="records", indent=1))
    table = markdown(data, delta)
    (RESULTS / "guarantee.md").write_text(table)
    print(table)


def main():
    collect_then_report(__doc__, collect, report,
                        datasets=dict(nargs="+", default=list(CELLS), choices=list(CELLS)),
                        bases=dict(type=int, nargs="+", default=list(BASES)),
                        methods=dict(nargs="+", default=list(METHODS), choices=list(METHODS),
                                     help="the methods to refit where a split has no run file"))


if __name__ == "__main__":
    main()
