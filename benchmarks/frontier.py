"""What a test split of the protocol's size lets a fair rule be: balanced accuracy against the share fair.

On small data the default hands back rules close to a constant prediction
(``quality.md``: COMPAS, balanced accuracy 0.51 among its fair runs). This
script measures why, on the aware protocol's cells of COMPAS and the SPD
cells of German, where every rule the offset can make is one threshold per
group on the base network's logit (the attribute is a column of X):

* **the rules.** For each rate ``r`` of ``RATES``, each group's threshold
  placed so that the group's rate on the fit's rows (the validation part) is
  ``r``, the rate the measure compares (its ``BiasMeasure.terms``): the share
  predicted favourable (SPD), the true positive rate (EOD), or the mean of
  the true and false positive rates (AOD). These are the rules a
  post-processor sets for the measure, with thresholds estimated from every
  row the fit has (the ``quantile`` strategy certifies on 79% of them, so
  its rules spread more).
* **the draws.** The validation and test rows of each seed's DESIGN §3 split
  are pooled (the base network never saw either) and split ``DRAWS`` times,
  stratified by (group, label), into a validation part and a test part of
  the protocol's sizes. On every draw the default ``FairMaskDebiaser`` and
  fairlearn's ThresholdOptimizer are fitted on the validation part too, so
  every figure is paired.
* **the normal model.** A rule whose group rates were set equal on the
  validation part has a test bias of about ``N(0, v)``, ``v`` the sum over
  groups and label parts of ``w² p(1 − p)(1/n + 1/m)``: ``p`` the part's share
  above the threshold, ``w`` its weight in the rate, ``n`` and ``m`` its rows
  in the validation and test parts (for SPD at rate ``r``,
  ``r(1 − r)(1/n_a + 1/n_b + 1/m_a + 1/m_b)``): the thresholds' own sampling
  error, then the test's. *test noise alone* keeps only the test's terms: the
  share fair on test of a rule whose population bias is exactly 0, which,
  under the same model, no rule with those shares can beat, since a
  population gap only moves the test estimate off 0.

The rates are fixed in advance, and the table shows each: the best of them,
picked after the fact, is an optimistic figure that no fit could promise.
The summary gives, per cell, the most accurate rate that was fair on test in
at least ``SURE`` of the draws.

Φ is the balanced accuracy where the test's ``|bias| < ε``, else 0; its mean
over draws is the expected Φ of each rule.

    python benchmarks/frontier.py                    # every cell, seeds 0-9
    python benchmarks/frontier.py --cells compas:race:spd --seeds 0
    python benchmarks/frontier.py --report

Each (cell, seed) is stored under benchmarks/cache/frontier/. Writes
benchmarks/results/frontier.md and .json.
"""

import json
import warnings

import numpy as np
import pandas as pd
import torch
from scipy import stats
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split

from skfairmask import FairMaskDebiaser
from skfairmask.datasets import ProtocolSplit, protocol_split
from skfairmask.metrics import BIAS_METRICS
from skfairmask.network import FavourableLogit
from skfairmask.report import fairness_summary

from _common import (CACHE, CERTIFICATION_ONLY, DATASET_NAMES, base_network, bias_variance, collect_then_report,
                     each_cell, label_rows, paired_gap, run_file, stored_runs, write_results)
from _peers import threshold_optimizer

CELLS = ["compas:race:spd", "compas:sex:spd", "compas:race:eod", "compas:sex:eod", "compas:race:aod",
         "compas:sex:aod", "german:sex:spd", "german:age:spd"]
SEEDS = range(10)
DRAWS = 10
EPSILON = 0.05
RATES = (0.05, 0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90, 0.95)
DEFAULT = "skfairmask (default)"
RUNS = CACHE / "frontier"


@torch.no_grad()
def _logit(net, X):
    """The base network's logit for the favourable class (the score the offset's thresholds read)."""
    logit = FavourableLogit(net.module_).eval()
    return logit(torch.as_tensor(np.asarray(X, dtype=np.float32))).double().numpy()


def _threshold(scores, y, rate, terms):
    """The threshold at which the group's rate (``terms``' weighted shares above it) is ``rate``."""
    weights = np.zeros(len(scores))
    for label, weight in terms:
        rows = label_rows(y, label)
        weights[rows] += weight / rows.sum()
    order = np.argsort(-scores, kind="stable")
    position = min(int(np.searchsorted(np.cumsum(weights[order]), rate - 1e-12)), len(scores) - 2)
    return (scores[order][position] + scores[order][position + 1]) / 2


def _fair_chance(variance):
    """The chance that a centred normal estimate of this variance is within ``EPSILON`` of 0."""
    return float(2 * stats.norm.cdf(EPSILON / np.sqrt(max(variance, 1e-12))) - 1)


def _figures(y, predictions, groups, metric):
    summary = fairness_summary(y, predictions, groups, bias_metric=metric, epsilon=EPSILON)
    return {"balanced_accuracy": summary["balanced_accuracy"], "bias": summary[metric], "phi": summary["phi"],
            "share": float(np.mean(predictions)), "constant": bool(len(np.unique(predictions)) == 1)}


def run_seed(dataset, protected, metric, data, seed):
    """Every draw of one seed: the rate rules', the default's and ThresholdOptimizer's test figures."""
    X, y, A = data
    split = protocol_split(X, y, A, random_state=seed)
    net = base_network(split, dataset, protected, seed)
    parts = (split.validation, split.test)
    Xp, yp, Ap = (np.concatenate([np.asarray(part[k]) for part in parts]) for k in range(3))
    yp, Ap = yp.astype(int), Ap.astype(int)
    scores = _logit(net, Xp)
    terms = BIAS_METRICS[metric].terms
    records = []
    for draw in range(DRAWS):
        validation, test = train_test_split(np.arange(len(yp)), train_size=len(split.validation[1]),
                                            stratify=2 * Ap + yp, random_state=1000 * seed + draw)
        # Each group's validation rows in the pool's order, which breaks ties among equal scores.
        setting = [np.sort(validation[Ap[validation] == g]) for g in (0, 1)]
        for rate in RATES:
            thresholds = np.array([_threshold(scores[rows], yp[rows], rate, terms) for rows in setting])
            favourable = scores > thresholds[Ap]
            predictions = favourable[test].astype(int)
            # The thresholds' own sampling error (on the validation part), then the test's.
            estimate, noise = (bias_variance(favourable[rows], yp[rows], Ap[rows], metric)
                               for rows in (validation, test))
            records.append({"method": f"rate {rate:.2f}", "rate": rate, "draw": draw,
                            **_figures(yp[test], predictions, Ap[test], metric),
                            "normal_model": _fair_chance(estimate + noise),
                            "test_noise_alone": _fair_chance(noise)})
        drawn = ProtocolSplit(split.train, *((Xp[rows], yp[rows], Ap[rows]) for rows in (validation, test)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            debiaser = FairMaskDebiaser(FrozenEstimator(net), bias_metric=metric, epsilon=EPSILON,
                                        random_state=1000 * seed + draw, **CERTIFICATION_ONLY)
            debiaser.fit(Xp[validation], yp[validation], sensitive=Ap[validation])
            peer = threshold_optimizer(net, drawn, metric, EPSILON, draw)
        for method, predictions in ((DEFAULT, debiaser.predict(Xp[test])),
                                    ("fairlearn:threshold_optimizer", peer)):
            records.append({"method": method, "rate": np.nan, "draw": draw,
                            **_figures(yp[test], np.asarray(predictions).astype(int), Ap[test], metric)})
    return records


def collect(cells, seeds):
    RUNS.mkdir(parents=True, exist_ok=True)
    for cell, dataset, protected, metric, data in each_cell(cells):
        for seed in seeds:
            path = run_file(RUNS, cell, seed)
            if path.exists():
                continue
            records = run_seed(dataset, protected, metric, data, seed)
            path.write_text(json.dumps(records, indent=1))
            default = [r for r in records if r["method"] == DEFAULT]
            print(f"{cell} seed {seed}: default Φ {np.mean([r['phi'] for r in default]):.3f}", flush=True)


def frame():
    """One row per stored record of :data:`CELLS`, in their order, with whether it was fair on test."""
    data = pd.DataFrame([{"cell": cell, "seed": seed, **record} for cell, seed, records in stored_runs(RUNS)
                         if cell in CELLS for record in records])
    data = data.sort_values("cell", key=lambda cells: cells.map(CELLS.index), kind="stable")
    return data.assign(fair=data.bias.abs() < EPSILON).reset_index(drop=True)


def _row(method, part, default):
    fair = part[part.fair]
    model = (f"{part.normal_model.mean():.0%} | {part.test_noise_alone.mean():.0%}"
             if part.normal_model.notna().any() else "– | –")
    # A seed's draws share its pool of rows, so they are not independent: pair by seed.
    by_seed = part.groupby("seed", as_index=False).phi.mean()
    gap = "–" if method == DEFAULT else paired_gap(by_seed, default, keys=("seed",))
    cells = [method, f"{part.share.mean():.2f}", f"{part.balanced_accuracy.mean():.3f}",
             f"{part.fair.mean():.0%}", model, f"{part.phi.mean():.3f}",
             f"{fair.balanced_accuracy.mean():.3f}", f"{part.constant.mean():.0%}", gap]
    return "| " + " | ".join(cells) + " |"


#: The table's preamble, its whitespace folded to single spaces.
INTRODUCTION = """
Produced by `python benchmarks/frontier.py`. Per seed, the validation and test rows of the DESIGN §3
split are pooled and redrawn {draws} times into parts of the protocol's sizes; every rule and method
reads the same draws. *rate r*: each group's threshold placed so that its rate on the whole validation
part is r: its share predicted favourable (SPD), its true positive rate (EOD) or the mean of its true
and false positive rates (AOD); the rates are fixed in advance, and the best of them, picked after the
fact, is optimistic. *favourable* is the share predicted favourable on test; *fair* the share of draws
with test |bias| < ε; *normal model* that share predicted from the row counts (the thresholds' sampling
error and the test's), *test noise alone* the same model's share for a rule whose population bias is
exactly 0, in that model the most any rule at that rate can have; Φ the mean test Φ; *BA of fair
draws* the mean balanced accuracy over the draws fair on test; *Φ against the default* each seed's
mean Φ minus the default's: mean ± standard error over seeds (seeds won / lost), since a seed's draws
share its rows.
"""
HEADER = ("| rule | favourable | balanced accuracy | fair | normal model | test noise alone | mean Φ "
          "| BA of fair draws | constant | Φ against the default |")


#: The share of draws fair on test that the summary asks of a rate.
SURE = 0.95


def _most_accurate_sure(part):
    """The summary row of one cell: its most accurate rate fair on test in at least :data:`SURE` of draws."""
    rules = part[part.method.str.startswith("rate ")].groupby("method")
    shares = rules.fair.mean()
    sure = shares[shares >= SURE].index
    default = part[part.method == DEFAULT]
    row = {"cell": part.cell.iloc[0], "default_balanced_accuracy": default.balanced_accuracy.mean(),
           "default_fair": default.fair.mean(), "default_phi": default.phi.mean()}
    if len(sure) == 0:
        return {**row, "rule": None}
    best = rules.balanced_accuracy.mean()[sure].idxmax()
    chosen = part[part.method == best]
    gap = paired_gap(chosen.groupby("seed", as_index=False).phi.mean(), default.groupby("seed").phi.mean(),
                     keys=("seed",))
    return {**row, "rule": best, "balanced_accuracy": chosen.balanced_accuracy.mean(),
            "fair": chosen.fair.mean(), "phi": chosen.phi.mean(), "gap": gap}


SUMMARY_HEADER = ("| cell | rate | balanced accuracy | fair | mean Φ | Φ against the default "
                  "| default: balanced accuracy | fair | mean Φ |")


def _summary(data):
    rows = [_most_accurate_sure(part) for _, part in data.groupby("cell", sort=False)]
    lines = [f"## The most accurate rate fair on test in at least {SURE:.0%} of draws", "",
             "Picked after the fact, per cell, so optimistic; beside it the default on the same draws.", "",
             SUMMARY_HEADER, "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        default = (f"{row['default_balanced_accuracy']:.3f} | {row['default_fair']:.0%} "
                   f"| {row['default_phi']:.3f}")
        if row["rule"] is None:
            lines.append(f"| {row['cell']} | none | – | – | – | – | {default} |")
            continue
        lines.append(f"| {row['cell']} | {row['rule'][5:]} | {row['balanced_accuracy']:.3f} "
                     f"| {row['fair']:.0%} | {row['phi']:.3f} | {row['gap']} | {default} |")
    for dataset in dict.fromkeys(row["cell"].split(":")[0] for row in rows):
        own = [row for row in rows if row["cell"].startswith(dataset + ":")]
        found = [row["balanced_accuracy"] for row in own if row["rule"] is not None]
        default = np.mean([row["default_balanced_accuracy"] for row in own])
        if len(found) == len(own):
            sentence = (f"On {DATASET_NAMES[dataset]}'s {len(own)} cells these rates' mean balanced accuracy "
                        f"is {np.mean(found):.3f}, the default's {default:.3f}.")
            lines += ["", sentence]
    return lines + [""]


def markdown(data):
    introduction = " ".join(INTRODUCTION.format(draws=DRAWS).split())
    title = "# Balanced accuracy against the share fair on test (aware protocol, ε = 0.05)"
    lines = [title, "", introduction, "", *_summary(data)]
    for cell, part in data.groupby("cell", sort=False):
        default = part[part.method == DEFAULT].groupby("seed").phi.mean()
        draws = len(part) // part.method.nunique()
        lines += [f"## {cell}: seeds {sorted(part.seed.unique().tolist())}, {draws} draws", "", HEADER,
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for method, rows in part.groupby("method", sort=False):
            lines.append(_row(method, rows, default))
        lines.append("")
    return "\n".join(lines)


def report():
    data = frame()
    if data.empty:
        raise SystemExit("No runs yet.")
    write_results("frontier", data, markdown(data))


def main():
    collect_then_report(__doc__, collect, report, cells=dict(nargs="+", default=CELLS, choices=CELLS),
                        seeds=dict(type=int, nargs="+", default=list(SEEDS)))


if __name__ == "__main__":
    main()
