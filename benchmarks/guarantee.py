"""Does the stated confidence hold? Fits that claim the tolerance, and how often they break it on new data.

A Seldonian-style experiment (Thomas et al., Science 2019): on Adult (sex)
and COMPAS (race), ``BASES`` base networks are each trained on a fixed half
of the rows (stratified by group and label, scaled on it), and the other
half is split ``SPLITS`` times at random into a validation part (40% of it,
the 20% of the DESIGN protocol) and a test part (the other 60%, larger than
the protocol's, so that a test verdict rests less on the test's own noise).
On every split of the SPD cells the default ``FairMaskDebiaser`` is fitted
on the validation part, and again with ``strategy="quantile"``, and
fairlearn's ThresholdOptimizer and AIF360's Reject Option Classification on
the same base network's scores. The EOD and AOD cells read the same
networks and splits, and fit the default and ThresholdOptimizer
(``quantile`` certifies SPD only; Reject Option takes half a minute a fit on
Adult). The EOD cells certify at one true positive rate on every row, the
AOD cells on the safety rows (no route at one rate bounds AOD). The ``unaware``
cells repeat the SPD cells with the attribute's column dropped from X before
the base networks are trained (their own networks; the same splits): the
default then reads proxies of the attribute and certifies on its safety
rows, where on the aware SPD cells it certifies on every row (Adult) or on
them too (COMPAS).

For the debiaser, the share of fits that *claim* the tolerance
(``tolerance_met_``) yet are unfair on test must not exceed δ = 1 − confidence
beyond its binomial 95% interval. The peers make no claim; they are fitted to
be fair on validation, so every fit of theirs counts as one. Each (cell,
base, split) is stored as it finishes under benchmarks/cache/guarantee/::

    python benchmarks/guarantee.py                     # every split of every cell
    python benchmarks/guarantee.py --cells compas-eod --bases 0 1
    python benchmarks/guarantee.py --methods "skfairmask (default)"   # refit only the debiaser
    python benchmarks/guarantee.py --report

Where a split has no run file, the methods not named by ``--methods`` are
taken from the committed results, so a change to the debiaser is measured
without refitting the peers (Reject Option takes half a minute a fit).

Writes benchmarks/results/guarantee.md and .json.
"""

import json
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skfairmask import FairMaskDebiaser
from skfairmask.datasets import ProtocolSplit
from skfairmask.report import fairness_summary

from _common import (CACHE, CERTIFICATION_ONLY, DATASET_NAMES, RESULTS, bias_variance, collect_then_report,
                     kept_network, load, paired_gap)
from _peers import reject_option, threshold_optimizer

BASES, SPLITS = range(10), range(10)
EPSILON = 0.05
DEFAULT = "skfairmask (default)"
#: Method name → the debiaser's strategy (a string), or a peer's fit on the base network's scores.
METHODS = {DEFAULT: "auto", "skfairmask (quantile)": "quantile",
           "fairlearn:threshold_optimizer": threshold_optimizer, "aif360:reject_option": reject_option}


@dataclass(frozen=True)
class Cell:
    """One experiment: a dataset's base networks and splits, the attribute and measure, the methods fitted."""

    dataset: str
    protected: str
    metric: str
    methods: tuple = tuple(METHODS)
    protocol: str = "aware"

    @property
    def title(self):
        dropped = " (attribute dropped)" if self.protocol == "unaware" else ""
        return f"{DATASET_NAMES[self.dataset]} {self.protected} {self.metric.upper()}{dropped}"


#: The EOD, AOD and unaware cells' methods: ``quantile`` needs SPD and the attribute's column, and Reject
#: Option takes half a minute a fit on Adult.
DEFAULT_AND_TO = (DEFAULT, "fairlearn:threshold_optimizer")
#: Cell name (no underscore: it starts each run file's name) → its experiment. Cells of one dataset
#: share its splits, and of one dataset and protocol its base networks.
CELLS = {"adult": Cell("adult", "sex", "spd"), "compas": Cell("compas", "race", "spd"),
         "adult-eod": Cell("adult", "sex", "eod", DEFAULT_AND_TO),
         "compas-eod": Cell("compas", "race", "eod", DEFAULT_AND_TO),
         "adult-aod": Cell("adult", "sex", "aod", DEFAULT_AND_TO),
         "compas-aod": Cell("compas", "race", "aod", DEFAULT_AND_TO),
         "adult-unaware": Cell("adult", "sex", "spd", DEFAULT_AND_TO, "unaware"),
         "compas-unaware": Cell("compas", "race", "spd", DEFAULT_AND_TO, "unaware")}
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


def cell_data(cell):
    """``(X, y, A)`` of a cell's dataset under its protocol, as the arrays its splits are drawn from."""
    X, y, A = (np.asarray(a) for a in load(cell.dataset, cell.protected, cell.protocol))
    return X.astype(np.float32), y.astype(int), A.astype(int)


def split_and_network(cell, data, base, split_index):
    """One split of ``cell`` (:func:`split_of` of :func:`cell_data`) and its base network."""
    split = split_of(*data, base, split_index)
    suffix = "" if cell.protocol == "aware" else f"_{cell.protocol}"
    return split, kept_network(f"guarantee_{cell.dataset}_base{base}{suffix}", split, base)


def run_split(cell, base, split_index, methods):
    """Fit ``methods`` (names of :data:`METHODS`) on one split of ``cell``; their test figures by name."""
    metric = cell.metric
    split, net = split_and_network(cell, cell_data(cell), base, split_index)
    (Xv, yv, Av), (Xt, yt, At) = split.validation, split.test
    results = {}
    for name in methods:
        peer = METHODS[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if isinstance(peer, str):
                deb = FairMaskDebiaser(FrozenEstimator(net), strategy=peer, bias_metric=metric, epsilon=EPSILON,
                                       random_state=base * 100 + split_index,
                                       **CERTIFICATION_ONLY).fit(Xv, yv, sensitive=Av)
                predictions = deb.predict(Xt)
                extra = {"claims": deb.tolerance_met_, "certified_epsilon": deb.certified_epsilon_,
                         "confidence": deb.confidence, "strategy_": deb.strategy_}
            else:
                predictions, extra = peer(net, split, metric, EPSILON, split_index), {"claims": True}
        summary = fairness_summary(yt, predictions, At, bias_metric=metric, epsilon=EPSILON)
        results[name] = {**summary, **extra, "bias": summary[metric],
                         # The test estimate's own noise: how far a fair model's bias may stray by chance.
                         "test_se": float(np.sqrt(bias_variance(predictions, yt, At, metric))),
                         "constant": bool(len(np.unique(predictions)) == 1)}
    return results


def committed_splits():
    """The committed results of each (cell, base, split), by method."""
    path = RESULTS / "guarantee.json"
    splits = {}
    for record in json.loads(path.read_text()) if path.exists() else []:
        splits.setdefault((record["cell"], record["base"], record["split"]), {})[record["method"]] = record
    return splits


def collect(cells, bases, methods):
    """Fit every split's missing methods: its cell's all where it has a run file, else ``methods``."""
    RUNS.mkdir(parents=True, exist_ok=True)
    committed = committed_splits()
    for name in cells:
        cell = CELLS[name]
        for base in bases:
            for split_index in SPLITS:
                path = RUNS / f"{name}_base{base}_split{split_index}.json"
                if path.exists():
                    results = json.loads(path.read_text())
                else:
                    kept = committed.get((name, base, split_index), {})
                    results = {m: kept[m] for m in cell.methods if m in kept and m not in methods}
                missing = [m for m in cell.methods if m not in results]
                if not missing:
                    continue
                results.update(run_split(cell, base, split_index, missing))
                results = {m: results[m] for m in cell.methods}
                path.write_text(json.dumps(results, indent=1))
                ours = results[DEFAULT]
                print(f"{name} base {base} split {split_index}: claims {ours['claims']}, test bias "
                      f"{ours['bias']:+.3f}, Φ {ours['phi']:.3f}", flush=True)


def frame():
    rows = []
    for path in sorted(RUNS.glob("*.json")):
        cell, base, split_index = path.stem.split("_")
        for method, result in json.loads(path.read_text()).items():
            rows.append({"cell": cell, "base": int(base[4:]), "split": int(split_index[5:]), "method": method,
                         **{k: result[k] for k in ("phi", "balanced_accuracy", "bias", "claims", "test_se",
                                                   "constant")}})
    data = pd.DataFrame(rows)
    order = {name: position for position, name in enumerate(CELLS)}
    data = data.sort_values(["cell", "base", "split"], key=lambda c: c.map(order) if c.name == "cell" else c,
                            kind="stable")
    return data.assign(unfair=data.bias.abs() >= EPSILON).reset_index(drop=True)


#: The table's preamble, its whitespace folded to single spaces.
INTRODUCTION = """
Produced by `python benchmarks/guarantee.py`. Per dataset, {bases} base networks, each trained on a fixed
half of the rows, and for each {splits} random splits of the other half into validation (40%) and test
(60%). *Claims* is the share of fits that report the tolerance met (for the debiaser, `tolerance_met_`:
certified fair at its confidence and better than a constant; the peers are fitted to be fair on
validation, so each of their fits claims it). *Claims but unfair* is the share of all fits that claim it
while their test |bias| ≥ ε; its 95% interval is Clopper–Pearson's. *Test SE* is the test estimate's own
standard error, the noise of the verdict itself. The splits of one base share its half of the rows, so
the fits are not wholly independent; the interval treats them as if they were. *Φ against the default*
is each base's mean test Φ minus the default's on the same splits: mean ± standard error over the bases
(bases won / lost).
"""
HEADER = ("| cell | method | fits | claims | claims but unfair (95% interval) | within δ | could not meet it "
          "| constant | fair on test | mean test Φ | mean balanced accuracy | test SE "
          "| Φ against the default |")


def _row(data, cell, method, part, delta):
    broken = int((part.claims & part.unfair).sum())
    interval = binomtest(broken, len(part)).proportion_ci(confidence_level=0.95, method="exact")
    within = ("yes" if interval.low <= delta else "no") if method.startswith("skfairmask") else "–"
    # A base's splits share its rows, so they are not independent: pair by base.
    default = data[(data.cell == cell) & (data.method == DEFAULT)].groupby("base").phi.mean()
    by_base = part.groupby("base", as_index=False).phi.mean()
    gap = "–" if method == DEFAULT else paired_gap(by_base, default, keys=("base",))
    cells = [CELLS[cell].title, method, str(len(part)), f"{part.claims.mean():.0%}",
             f"{broken / len(part):.1%} ({interval.low:.1%}–{interval.high:.1%})", within,
             f"{(~part.claims).mean():.0%}", f"{part.constant.mean():.0%}", f"{(~part.unfair).mean():.0%}",
             f"{part.phi.mean():.3f}", f"{part.balanced_accuracy.mean():.3f}",
             f"{part.test_se.mean():.3f}", gap]
    return "| " + " | ".join(cells) + " |"


def markdown(data, delta):
    titles = ", ".join(CELLS[name].title for name in data.cell.unique())
    counts = {"bases": data.base.nunique(), "splits": data.split.nunique()}
    introduction = " ".join(INTRODUCTION.format(**counts).split())
    lines = [f"# Does the confidence hold? ({titles}; ε = 0.05)", "", introduction, "",
             f"The debiaser's confidence is {1 - delta:.0%}, so δ = {delta:.2f}: the share that claims and "
             "breaks the tolerance should not exceed δ beyond its interval.", "",
             HEADER, "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (cell, method), part in data.groupby(["cell", "method"], sort=False):
        lines.append(_row(data, cell, method, part, delta))
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
                        cells=dict(nargs="+", default=list(CELLS), choices=list(CELLS)),
                        bases=dict(type=int, nargs="+", default=list(BASES)),
                        methods=dict(nargs="+", default=list(METHODS), choices=list(METHODS),
                                     help="the methods to refit where a split has no run file"))


if __name__ == "__main__":
    main()
