"""The ceiling of a certified fit: the best mean balanced accuracy any certify-then-return fit could reach.

A fit that keeps the promise of docs/method.md §6 returns a rule only if a
test on its safety rows certifies ``|bias| < ε`` at the confidence, and a
constant prediction otherwise. How accurate such a fit can be on average is
bounded by how often a test on that many rows can pass a rule, whatever
method chose it. This script measures that bound on the benchmark's cells,
giving the chooser more than any fit has:

* **the population.** The validation and test rows of the DESIGN §3 split
  together stand for the population; every rule's bias and balanced accuracy
  on them count as its true ones.
* **the rules.** One threshold per group on the base network's scores
  (``QUANTILES`` per group, constants included): the rules a post-processor
  of those scores chooses among (ThresholdOptimizer and EqOdds also mix two
  of them at random). Where the
  attribute is a column of X the output offset spans them from X alone; it
  also reads the penultimate layer, so it can rank rows within a group
  differently: on Adult sex SPD the default's 0.783 is above this
  ceiling's 0.777–0.780.
* **the pass chance of each rule** on ``n`` fresh safety rows with the
  population's (group, label) shares, from the rule's true rates:

  - *exact*: the chance that skfairmask's own bounds (Clopper–Pearson and
    MOVER, as :class:`~skfairmask.objective.FairnessObjective` computes them)
    certify it, over ``DRAWS`` binomial draws of its counts (the largest of
    many such estimates is a little high, which errs towards a higher
    ceiling);
  - *ideal*: the power of the most powerful level-δ test of
    ``|bias| ≥ ε`` for a normal estimate with its variance known (the
    equivalence test that passes an estimate within ``±c``): no bound
    computed from the rows could pass the rule more often.

  A rule whose true ``|bias|`` is ε or more gets 0: passing it is the error
  the confidence bounds.

A fit that orders its rules before reading the safety rows and tests them
each at the full level (a single test, or a fixed sequence such as
skfairmask's ladder) returns a rule of balanced accuracy at least ``t`` only
if some rule that accurate passes its test, so
``E[balanced accuracy] ≤ 0.5 + ∫ max{pass chance of r : BA(r) ≥ t} dt``
over ``t`` from 0.5 to 1. That integral is the *ceiling*, reported for the
safety rows a default fit has (49% of its rows) and for all of its rows,
beside the default's mean balanced accuracy and the best peer's mean test Φ
from ``quality.json``; the JSON also holds *one_rule*, the best a fit that
tests a single rule could expect.

    python benchmarks/ceiling.py                 # every aware cell, seeds 0-4
    python benchmarks/ceiling.py --cells compas:race:spd --seeds 0
    python benchmarks/ceiling.py --report

Each (cell, seed) is stored under benchmarks/cache/ceiling/. Writes
benchmarks/results/ceiling.md and .json.
"""

import json

import numpy as np
import pandas as pd
from scipy import stats

from skfairmask import FairMaskDebiaser
from skfairmask._split import SAFETY_SHARE
from skfairmask.datasets import protocol_split
from skfairmask.objective import DEFAULT_CONFIDENCE, FairnessObjective
from skfairmask.threshold import CellCounts

from _common import (CACHE, RESULTS, base_network, collect_then_report, each_cell, run_file, stored_runs,
                     write_results)
from quality import CELLS, DEFAULT, EPSILON, _peers, frame, load_runs

#: Thresholds per group: the rules are every pair of them.
QUANTILES = 50
#: Binomial draws of each rule's safety counts for its exact pass chance.
DRAWS = 200
SEEDS = range(5)
#: The safety rows of a default fit, as a share of its rows: ``SAFETY_SHARE`` of those held out.
DEFAULT_SAFETY = FairMaskDebiaser().holdout_size * SAFETY_SHARE
RUNS = CACHE / "ceiling"


def population_rules(net, split):
    """Each per-group-threshold rule's favourable rate per (group, label) cell, and the cells' shares."""
    X = np.concatenate([split.validation[0], split.test[0]]).astype(np.float32)
    y = np.concatenate([split.validation[1], split.test[1]]).astype(int)
    groups = np.concatenate([split.validation[2], split.test[2]]).astype(int)
    scores = net.predict_proba(X)[:, 1]
    thresholds = np.concatenate([[-1.0], np.quantile(scores, np.linspace(0, 1, QUANTILES + 1)[1:-1]), [2.0]])
    rates = np.zeros((len(thresholds), len(thresholds), 2, 2))
    shares = np.zeros((2, 2))
    for group in (0, 1):
        for label in (0, 1):
            rows = (groups == group) & (y == label)
            shares[group, label] = rows.mean()
            rate = (scores[rows][None] > thresholds[:, None]).mean(1)
            rates[..., group, label] = rate[:, None] if group == 0 else rate[None, :]
    return rates.reshape(-1, 2, 2), shares


def pass_chances(objective, rates, shares, n_rows, rng):
    """Each rule's true bias and balanced accuracy, and its exact and ideal chances to pass on ``n_rows``."""
    cells = np.maximum(np.round(shares * n_rows), 1)
    truth = objective._evaluate_binary(lambda _: CellCounts(rates * cells, cells), int(cells.sum()), None)
    counts = rng.binomial(cells.astype(int), np.clip(rates, 0, 1), size=(DRAWS, *rates.shape))
    drawn = objective._evaluate_binary(lambda _: CellCounts(counts.astype(float), cells), int(cells.sum()), None)
    fair = np.abs(truth.bias) < EPSILON
    exact = np.where(fair, (drawn.abs_bias_upper.reshape(DRAWS, -1) < EPSILON).mean(0), 0.0)
    # The estimate's standard error from the true rates: each term's rate difference over its cells.
    variance = 0.0
    for label, weight in objective.measure.terms:
        for group in (0, 1):
            n = cells[group].sum() if label is None else cells[group, label]
            rate = (rates[:, group] * cells[group]).sum(-1) / n if label is None else rates[:, group, label]
            variance = variance + weight**2 * rate * (1 - rate) / n
    error = np.maximum(np.sqrt(variance), 1e-12)
    ideal = np.where(fair, equivalence_power(np.abs(truth.bias), error, 1 - objective.confidence), 0.0)
    return truth.balanced_accuracy, exact, ideal


def non_constant(rates):
    """The rules that predict both classes: some cell's rate is neither 0 nor that of every other cell."""
    flat = rates.reshape(len(rates), -1)
    return ~((flat == 0).all(1) | (flat == 1).all(1))


def equivalence_power(bias, error, delta):
    """Power at ``bias`` of the most powerful level-``delta`` test of ``|bias| ≥ ε`` for a normal estimate.

    The test rejects when the estimate lies within ``±c``, with ``c`` such that the chance of that is
    ``delta`` at ``|bias| = ε``; for a one-parameter exponential family such as the normal with known
    variance it is uniformly most powerful (Lehmann and Romano, *Testing Statistical Hypotheses*, §3.7).
    """
    def inside(c, centre):
        return stats.norm.cdf((c - centre) / error) - stats.norm.cdf((-c - centre) / error)

    low, high = np.zeros_like(error), np.full_like(error, EPSILON)
    for _ in range(60):  # bisection: the chance inside ±c grows with c
        middle = (low + high) / 2
        below = inside(middle, EPSILON) < delta
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    return inside(low, bias)


def ceilings(accuracy, chance):
    """The best single rule's expected balanced accuracy, and the ceiling ``0.5 + ∫ max{chance : accuracy ≥ t} dt``."""
    one_rule = float(np.max(chance * accuracy + (1 - chance) * 0.5))
    grid = np.linspace(0.5, 1.0, 501)
    best = np.array([chance[accuracy >= t].max(initial=0.0) for t in grid])
    return one_rule, float(0.5 + np.trapezoid(best, grid))


def collect(cells, seeds):
    """Compute every missing (cell, seed), saving each as it finishes."""
    RUNS.mkdir(parents=True, exist_ok=True)
    done = stored()
    for cell, dataset, protected, metric, (X, y, A) in each_cell(cells):
        objective = FairnessObjective(bias_metric=metric, epsilon=EPSILON, confidence=DEFAULT_CONFIDENCE)
        for seed in seeds:
            if (cell, seed) in done:
                continue
            split = protocol_split(X, y, A, random_state=seed)
            rates, shares = population_rules(base_network(split, dataset, protected, seed), split)
            n_validation = len(split.validation[1])
            record = {"cell": cell, "seed": seed, "validation_rows": n_validation}
            rng = np.random.default_rng(seed)
            for rows, n in (("default_safety", int(DEFAULT_SAFETY * n_validation)), ("all_validation",
                                                                                     n_validation)):
                accuracy, exact, ideal = pass_chances(objective, rates, shares, n, rng)
                for bound, chance in (("exact", exact), ("ideal", ideal)):
                    record[f"{rows}_{bound}_one_rule"], record[f"{rows}_{bound}_ceiling"] = ceilings(
                        accuracy, chance)
                    record[f"{rows}_{bound}_best_pass"] = float(chance[non_constant(rates)].max())
            run_file(RUNS, cell, seed).write_text(json.dumps(record, indent=1))
            print(f"{cell}|{seed}: ceiling at the default's safety rows {record['default_safety_exact_ceiling']:.3f}"
                  f" (exact bounds), {record['default_safety_ideal_ceiling']:.3f} (ideal test)", flush=True)


def stored():
    """Every stored (cell, seed) record: the committed results, then the run files."""
    path = RESULTS / "ceiling.json"
    records = {(r["cell"], r["seed"]): r for r in json.loads(path.read_text())} if path.exists() else {}
    records.update({(cell, seed): record for cell, seed, record in stored_runs(RUNS)})
    return records


def quality_figures(cells_and_seeds):
    """From quality.json, aware protocol: the default's test balanced accuracy where it was fair on test, per
    (cell, seed), and each cell's best peer by mean test Φ on the same seeds, with that mean."""
    runs = frame(load_runs())
    runs = runs[(runs.protocol == "aware")
                & pd.Series(list(zip(runs.cell, runs.seed))).isin(cells_and_seeds).to_numpy()]
    ours = runs[(runs.method == DEFAULT) & runs.fair].set_index(["cell", "seed"]).balanced_accuracy
    peers = runs[runs.method.isin(_peers(runs.method.unique()))].groupby(["cell", "method"]).phi.mean()
    best = peers.groupby("cell").idxmax().str[1]
    return ours, pd.DataFrame({"peer": best, "peer_phi": peers.groupby("cell").max()})


def report():
    data = pd.DataFrame(list(stored().values())).drop(columns=["default_fair_balanced_accuracy", "dataset"],
                                                       errors="ignore")
    ours, peers = quality_figures(set(zip(data.cell, data.seed)))
    data["default_fair_balanced_accuracy"] = [ours.get((c, s), np.nan) for c, s in zip(data.cell, data.seed)]
    data["dataset"] = data.cell.str.split(":").str[0]
    columns = ["default_fair_balanced_accuracy", "default_safety_exact_ceiling", "default_safety_ideal_ceiling",
               "all_validation_exact_ceiling", "all_validation_ideal_ceiling", "default_safety_exact_best_pass",
               "all_validation_ideal_best_pass"]
    heads = ["default's fair runs (quality.md)", "ceiling, exact bounds", "ceiling, ideal test",
             "ceiling, exact, all rows", "ceiling, ideal, all rows",
             "best pass chance of a non-constant rule, exact", "the same, ideal, all rows"]
    lines = [
        "# The ceiling of a certified fit: mean balanced accuracy, per dataset", "",
        ("Produced by `python benchmarks/ceiling.py` (aware protocol, seeds "
        f"{sorted(data.seed.unique().tolist())}, ε = {EPSILON}, confidence {DEFAULT_CONFIDENCE:.0%}). "
        "The best mean balanced accuracy that a fit returning only certified rules, and a constant "
        "otherwise, could reach even knowing every rule's true rates (see the script's docstring): at the "
        f"default fit's safety rows ({DEFAULT_SAFETY:.0%} of the validation rows) and at all of them. "
        "*exact bounds* are skfairmask's own; the *ideal test* is the most powerful level-δ test a normal "
        "estimate allows, which no bound can beat. The first column is the default's mean test balanced "
        "accuracy over its runs fair on test. The two *best pass chance* columns give the largest chance, over the rules that "
        "predict both classes, that one of them is certified; the last, the best peer of quality.md "
        "on the same seeds, whose fits claim no confidence. On Adult's two SPD cells the default "
        "certifies on all its rows under a uniform band (docs/method.md §6), not on its safety rows: read "
        "its figure there against the all-rows columns."), "",
        "| dataset | cells × seeds | validation rows | " + " | ".join(heads) + " |",
        "|---|---|---|" + "---|" * len(heads),
    ]
    for dataset, rows in data.groupby("dataset", sort=False):
        values = " | ".join(f"{rows[c].mean():.3f}" for c in columns)
        lines.append(f"| {dataset} | {len(rows)} | {int(rows.validation_rows.mean())} | {values} |")
    lines += ["", "| cell | " + " | ".join(heads) + " | best peer (its mean Φ, same seeds) |",
              "|---|" + "---|" * (len(heads) + 1)]
    for cell, rows in data.groupby("cell", sort=False):
        peer = peers.loc[cell]
        lines.append(f"| {cell} | " + " | ".join(f"{rows[c].mean():.3f}" for c in columns)
                     + f" | {peer.peer} ({peer.peer_phi:.3f}) |")
    write_results("ceiling", data, "\n".join(lines) + "\n")


if __name__ == "__main__":
    collect_then_report(__doc__, collect, report, cells=dict(nargs="+", default=CELLS),
                        seeds=dict(type=int, nargs="+", default=list(SEEDS)))
