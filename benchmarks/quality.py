"""Test Φ of skfairmask against every peer, on the DESIGN §3 protocol, with the attribute in X and without.

Cells: Adult (sex, race), COMPAS (sex, race), German (sex, age) × SPD, EOD,
AOD, with ε = 0.05; seeds 0–9 on every dataset. For each
cell and seed: a 60/20/20 split, the base network trained on train (cached
under benchmarks/cache/), every method fitted on the validation split only
(ExponentiatedGradient retrains on train, as in-processing does), every
figure measured on the test split. Two protocols:

* ``aware``: the protected attribute stays a column of X, as AIF360 prepares
  the data, so a network that predicts from X can still read it;
* ``unaware``: its column is dropped before the base network is trained
  (fairness through unawareness); an X-only model then has proxies only. The
  post-processors still read the attribute at prediction time.

Each (protocol, cell, seed) is stored as it finishes under
benchmarks/cache/quality/, so an interrupted run resumes and several can run
side by side::

    python benchmarks/quality.py --protocol aware            # every cell and seed
    python benchmarks/quality.py --protocol unaware --cells adult:sex:spd --seeds 0 1
    python benchmarks/quality.py --report                    # tables and plots only

Writes benchmarks/results/quality.json (every run), quality.md and one Pareto
plot per protocol and dataset (quality_<protocol>_<dataset>.png).
"""

import argparse
import json
import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from sklearn.frozen import FrozenEstimator  # noqa: E402

from skfairmask import FairMaskDebiaser  # noqa: E402
from skfairmask.datasets import protocol_split  # noqa: E402
from skfairmask.objective import DEFAULT_CONFIDENCE  # noqa: E402
from skfairmask.report import fairness_summary  # noqa: E402

from _common import (CACHE, LOADERS, PROTOCOLS, RESULTS, base_network, each_cell, mean_std,  # noqa: E402
                     run_file, runs_frame, stored_runs)
from _peers import PEERS  # noqa: E402

EPSILON = 0.05
CELLS = [f"{dataset}:{attribute}:{metric}"
         for dataset, attribute in [("adult", "sex"), ("adult", "race"), ("compas", "sex"),
                                    ("compas", "race"), ("german", "sex"), ("german", "age")]
         for metric in ("spd", "eod", "aod")]
SEEDS = {"adult": range(10), "compas": range(10), "german": range(10)}
#: The strategy a user gets without choosing one.
DEFAULT = "skfairmask:auto"
STRATEGY_METHODS = [f"skfairmask:{name}" for name in ("auto", "offset", "prune_advft", "portfolio", "none")]
METHODS = [*PEERS, *STRATEGY_METHODS]
#: Where a figure of the FairMask paper sits beside ours: cell → (method, Φ, bias).
PAPER = {"adult:sex:aod": ("Prune+AdvFt", 0.77, 0.049), "adult:race:spd": ("Prune+AdvFt", 0.64, None),
         "compas:sex:eod": ("Prune+AdvFt", 0.61, 0.035)}
RUNS = CACHE / "quality"
RUNS_JSON = RESULTS / "quality.json"


def fit_skfairmask(method, net, split, metric, seed):
    """Fit one skfairmask method on validation; return it and its extra figures."""
    Xv, yv, Av = split.validation
    debiaser = FairMaskDebiaser(FrozenEstimator(net), bias_metric=metric, epsilon=EPSILON, random_state=seed)
    fitted = debiaser.set_params(strategy=method.removeprefix("skfairmask:")).fit(Xv, yv, sensitive=Av)
    return fitted, {"pruning_rate": fitted.pruning_rate_, "strategy_": fitted.strategy_,
                    "tolerance_met": fitted.tolerance_met_, "certified_epsilon": fitted.certified_epsilon_}


def figures_on_test(predictions, split, metric):
    """Fairness summary of test predictions, and whether they are all one class."""
    _, yt, At = split.test
    return {**fairness_summary(yt, predictions, At, bias_metric=metric, epsilon=EPSILON),
            "constant": bool(len(np.unique(predictions)) == 1)}


def run(cell, seed, method, split, net):
    """One method on one cell and seed: its test figures and fit time."""
    metric = cell.split(":")[2]
    start = time.perf_counter()
    if method in PEERS:
        predictions, extra = PEERS[method][0](net, split, metric, EPSILON, seed), {}
    else:
        fitted, extra = fit_skfairmask(method, net, split, metric, seed)
        predictions = fitted.predict(split.test[0])
    seconds = time.perf_counter() - start
    return {**figures_on_test(predictions, split, metric), **extra, "fit_seconds": seconds,
            "torch_threads": torch.get_num_threads()}


def collect(protocol, cells, seeds, methods):
    """Run every missing (cell, seed, method) of a protocol, saving each run as it finishes."""
    RUNS.mkdir(parents=True, exist_ok=True)
    for cell, dataset, protected, metric, (X, y, A) in each_cell(cells, protocol):
        for seed in seeds if seeds is not None else SEEDS[dataset]:
            path = run_file(RUNS, cell, seed, prefix=f"{protocol}_")
            runs = json.loads(path.read_text()) if path.exists() else {}
            split, net = None, None
            for method in methods:
                if method in runs:
                    continue
                if net is None:
                    split = protocol_split(X, y, A, random_state=seed)
                    net = base_network(split, dataset, protected, seed, protocol)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    runs[method] = run(cell, seed, method, split, net)
                path.write_text(json.dumps(runs, indent=1))
                result = runs[method]
                print(f"{protocol}/{cell}|{seed}|{method}: Φ {result['phi']:.3f}, balanced accuracy "
                      f"{result['balanced_accuracy']:.3f}, bias {result[metric]:+.3f}, "
                      f"{result['fit_seconds']:.1f} s", flush=True)


def load_runs():
    """Every stored run of :data:`METHODS`, keyed ``protocol/cell|seed|method``: the committed JSON, then
    the run files."""
    runs = json.loads(RUNS_JSON.read_text()) if RUNS_JSON.exists() else {}
    for protocol in PROTOCOLS:
        for cell, seed, stored in stored_runs(RUNS, prefix=f"{protocol}_"):
            for method, result in stored.items():
                runs[f"{protocol}/{cell}|{seed}|{method}"] = result
    # The tuning searches moved to tuning.py; only this script's own methods are reported here.
    return {key: result for key, result in runs.items() if key.rsplit("|", 1)[1] in METHODS}


def frame(runs):
    data = runs_frame(runs, "method")
    extra = pd.DataFrame([{"constant": r.get("constant", False), "certified": r.get("tolerance_met", np.nan)}
                          for r in runs.values()])
    data = pd.concat([data, extra], axis=1)
    data[["protocol", "cell"]] = data.cell.str.split("/", expand=True)
    return data.assign(dataset=data.cell.str.split(":").str[0], fair=data.bias.abs() < EPSILON)


def _is_ours(method):
    return method.startswith("skfairmask:")


def _needs(method):
    """(needs A at prediction, retrains) of a method."""
    return PEERS[method][1:] if method in PEERS else (False, False)


def _order(methods):
    return [m for m in METHODS if m in set(methods)]


def _peers(methods):
    return [m for m in methods if not _is_ours(m) and m != "base@balanced_accuracy"]


def _paired(data, first, second):
    """Φ(first) − Φ(second) on the (cell, seed) pairs where both ran: mean and standard error."""
    phi = data[data.method.isin([first, second])].pivot_table(index=["cell", "seed"], columns="method",
                                                               values="phi")
    if first not in phi or second not in phi:
        return np.nan, np.nan, 0
    gap = (phi[first] - phi[second]).dropna()
    se = gap.std(ddof=1) / np.sqrt(len(gap)) if len(gap) > 1 else np.nan
    return gap.mean(), se, len(gap)


def verdicts(data):
    """Per cell: the default against the best peer by mean test Φ, with the per-seed paired gap.

    The default matches or beats the peer when the mean gap plus two standard errors reaches 0, and it is
    not constant on most seeds: a constant rule is fair and useless, so it never counts as a success.
    """
    rows = []
    for cell in [c for c in CELLS if c in set(data.cell)]:
        part = data[data.cell == cell]
        phi = part.groupby("method").phi.mean()
        peers = phi[[m for m in _peers(phi.index)]]
        if DEFAULT not in phi or peers.empty:
            continue
        best_strategy = phi[[m for m in STRATEGY_METHODS if m in phi]].idxmax()
        gap, se, n = _paired(part, DEFAULT, peers.idxmax())
        rows.append({"cell": cell, "seeds": n, "default_phi": phi[DEFAULT],
                     "default_fair": part[part.method == DEFAULT].fair.mean(),
                     "default_constant": part[part.method == DEFAULT].constant.mean(), "best_strategy": best_strategy,
                     "best_strategy_phi": phi[best_strategy], "peer": peers.idxmax(), "peer_phi": peers.max(),
                     "peer_fair": part[part.method == peers.idxmax()].fair.mean(), "gap": gap, "gap_se": se})
    table = pd.DataFrame(rows)
    if not table.empty:
        table["constant"] = table.default_constant > 0.5
        table["matches"] = (table.gap + 2 * table.gap_se.fillna(0) >= 0) & ~table.constant
    return table


def _verdict(row):
    if row.constant:
        return "constant on most seeds: not a success"
    return "matches or beats" if row.matches else "loses"


def _verdict_lines(data):
    table = verdicts(data)
    if table.empty:
        return []
    lines = ["| cell | seeds | default Φ (fair, constant) | best strategy (Φ) | best peer | Φ (fair) "
             "| per-seed gap | verdict |", "|---|---|---|---|---|---|---|---|"]
    for row in table.itertuples():
        lines.append(f"| {row.cell} | {row.seeds} | {row.default_phi:.3f} ({row.default_fair:.0%}, "
                     f"{row.default_constant:.0%}) | {row.best_strategy.split(':')[1]} ({row.best_strategy_phi:.3f}) "
                     f"| {row.peer} | {row.peer_phi:.3f} ({row.peer_fair:.0%}) | {row.gap:+.3f} ± {row.gap_se:.3f} "
                     f"| {_verdict(row)} |")
    return lines + ["", f"The default matches or beats the best peer in {int(table.matches.sum())} of "
                    f"{len(table)} cells (mean per-seed gap + 2 standard errors ≥ 0); in "
                    f"{int(table.constant.sum())} it predicts one class for everyone on most seeds, which is "
                    "fair and useless, and counts as no success whatever its Φ.", ""]


def _dataset_lines(data):
    """Per dataset: every method's mean Φ with its shares fair on test, certified, and constant."""
    lines = ["| dataset | method | runs | mean Φ | fair on test | certified by the fit | constant on test "
             "| balanced accuracy of the fair runs | needs A |", "|---|---|---|---|---|---|---|---|---|"]
    for dataset in [d for d in LOADERS if d in set(data.dataset)]:
        part = data[data.dataset == dataset]
        for method in _order(part.method.unique()):
            rows = part[part.method == method]
            certified = f"{rows.certified.mean():.0%}" if rows.certified.notna().any() else "–"
            fair_accuracy = rows[rows.fair].balanced_accuracy.mean()
            lines.append(f"| {dataset} | {method} | {len(rows)} | {rows.phi.mean():.3f} | {rows.fair.mean():.0%} "
                         f"| {certified} | {rows.constant.mean():.0%} | {fair_accuracy:.3f} "
                         f"| {'yes' if _needs(method)[0] else 'no'} |")
    return lines + [""]


def _best_peer_lines(data):
    rows = ["| dataset | default mean Φ (fair, constant) | best peer by mean Φ | its mean Φ (fair) | per-run gap |",
            "|---|---|---|---|---|"]
    for dataset in [d for d in LOADERS if d in set(data.dataset)]:
        part = data[data.dataset == dataset]
        phi = part.groupby("method").phi.mean()
        peers = phi[_peers(phi.index)]
        if DEFAULT not in phi or peers.empty:
            continue
        gap, se, n = _paired(part, DEFAULT, peers.idxmax())
        fair, constant = part.groupby("method").fair.mean(), part.groupby("method").constant.mean()
        rows.append(f"| {dataset} | {phi[DEFAULT]:.3f} ({fair[DEFAULT]:.0%}, {constant[DEFAULT]:.0%}) | {peers.idxmax()} "
                    f"| {peers.max():.3f} ({fair[peers.idxmax()]:.0%}) | {gap:+.3f} ± {se:.3f} ({n} runs) |")
    return rows + [""]


def _paper_lines(data):
    lines = ["| cell | paper | paper Φ | paper bias | our default Φ (fair) | our abs(bias) |", "|---|---|---|---|---|---|"]
    for cell, (method, paper_phi, paper_bias) in PAPER.items():
        ours = data[(data.cell == cell) & (data.method == DEFAULT)]
        if ours.empty:
            continue
        lines.append(f"| {cell} | {method} | {paper_phi:.2f} | {'' if paper_bias is None else paper_bias} "
                     f"| {mean_std(ours.phi)} ({ours.fair.mean():.0%}) | {mean_std(ours.bias.abs())} |")
    return lines + [""]


def _cell_lines(data):
    lines = []
    for cell in [c for c in CELLS if c in set(data.cell)]:
        part = data[data.cell == cell]
        metric = cell.split(":")[2].upper()
        lines += [f"### {cell}: seeds {sorted(part.seed.unique().tolist())}", "",
                  f"| method | runs | Φ | fair | certified | constant | balanced accuracy | {metric} | needs A | fit s |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for method in _order(part.method.unique()):
            rows = part[part.method == method]
            certified = f"{rows.certified.mean():.0%}" if rows.certified.notna().any() else "–"
            lines.append(f"| {method} | {len(rows)} | {mean_std(rows.phi)} | {rows.fair.mean():.0%} | {certified} "
                         f"| {rows.constant.mean():.0%} | {mean_std(rows.balanced_accuracy)} | {mean_std(rows.bias)} "
                         f"| {'yes' if _needs(method)[0] else 'no'} | {rows.fit_seconds.mean():.1f} |")
        lines.append("")
    return lines


def markdown(data):
    """The tables of :func:`frame`'s runs."""
    lines = ["# skfairmask against its peers, DESIGN §3 protocol (test split, ε = 0.05)", "",
             "Produced by `python benchmarks/quality.py`. Every method was fitted on the validation split of the "
             "same 60/20/20 split and scored on its test split; the post-processors read the same base network's "
             "scores. Φ is the balanced accuracy where test |bias| < ε, else 0. *fair* is the share of runs with "
             "test |bias| < ε; *certified* the share whose fit certified the tolerance at its confidence "
             f"({DEFAULT_CONFIDENCE:.0%}) "
             "and beat a constant prediction; *constant* the share whose test predictions were all one class: "
             "fair, and useless, whatever Φ says. *fit s* is wall time on a 2-core machine shared with other "
             "benchmark runs: indicative only (`speed.md` has clean timings). Every skfairmask fit runs on one "
             "torch thread (the default for small networks), so its figures do not depend on the machine's "
             "thread count (`thread_sensitivity.md`).", "",
             "| method | needs A at prediction | retrains the model |", "|---|---|---|"]
    for method in _order(data.method.unique()):
        needs_a, retrains = _needs(method)
        lines.append(f"| {method} | {'yes' if needs_a else 'no'} | {'yes' if retrains else 'no'} |")
    lines += ["", f"`{DEFAULT}` is the default. `base@balanced_accuracy` is the unfair network at the threshold "
              "that maximises validation balanced accuracy. ExponentiatedGradient retrains an MLP (32, 32) on the "
              "train split with the constraint bounded by ε. On these binary networks `auto` runs `offset`; "
              "`strategies.md` compares the two and `portfolio` on two cells.", ""]
    for protocol in [p for p in PROTOCOLS if p in set(data.protocol)]:
        part = data[data.protocol == protocol]
        title = ("with the protected attribute among the features" if protocol == "aware"
                 else "with the protected attribute's column dropped before training")
        lines += [f"## Protocol `{protocol}`: {title}", "", "### The default against the best peer, per cell", "",
                  *_verdict_lines(part), "### Per dataset", "", *_best_peer_lines(part), *_dataset_lines(part)]
        if protocol == "aware":
            lines += ["### The paper's figures beside ours", "", *_paper_lines(part)]
        lines += [f"Pareto plots: `quality_{protocol}_<dataset>.png`.", "", "### Every cell", "",
                  *_cell_lines(part)]
    return "\n".join(lines) + "\n"


def plot_pareto(data, dataset, path):
    """Balanced accuracy against |bias| (means over seeds) for every method, one panel per cell."""
    cells = [cell for cell in CELLS if cell.startswith(f"{dataset}:") and cell in set(data.cell)]
    if not cells:
        return
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), squeeze=False)
    for ax in axes.ravel()[len(cells):]:
        ax.set_visible(False)
    for ax, cell in zip(axes.ravel(), cells):
        part = data[data.cell == cell].assign(abs_bias=lambda d: d.bias.abs())
        means = part.groupby("method")[["abs_bias", "balanced_accuracy"]].mean()
        for method in _order(means.index):
            ours = _is_ours(method)
            point = (means.loc[method, "abs_bias"], means.loc[method, "balanced_accuracy"])
            ax.scatter(*point, marker="o" if ours else "s", color="tab:blue" if ours else "tab:orange")
            ax.annotate(method.split(":")[-1], point, fontsize=6, xytext=(3, 2), textcoords="offset points")
        ax.axvline(EPSILON, color="tab:red", linestyle="--")
        ax.set_title(cell, fontsize=9)
        ax.set_xlabel("|bias| on test (mean over seeds)")
        ax.set_ylabel("balanced accuracy on test")
    fig.suptitle(f"{dataset.capitalize()}: skfairmask (blue circles) against peers (orange squares); "
                 f"red line at ε = {EPSILON}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report():
    runs = load_runs()
    if not runs:
        raise SystemExit("No runs yet: run some cells first.")
    RESULTS.mkdir(exist_ok=True)
    RUNS_JSON.write_text(json.dumps(dict(sorted(runs.items())), indent=1))
    data = frame(runs)
    for protocol in set(data.protocol):
        for dataset in LOADERS:
            plot_pareto(data[data.protocol == protocol], dataset, RESULTS / f"quality_{protocol}_{dataset}.png")
    table = markdown(data)
    (RESULTS / "quality.md").write_text(table)
    print(table)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=PROTOCOLS, default="aware")
    parser.add_argument("--cells", nargs="+", default=CELLS, help="dataset:attribute:metric")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default: 0-9 on every dataset")
    parser.add_argument("--methods", nargs="+", default=METHODS,
                        help="peer names, or skfairmask:<strategy>")
    parser.add_argument("--report", action="store_true", help="only write the tables and plots")
    args = parser.parse_args()
    if not args.report:
        collect(args.protocol, args.cells, args.seeds, args.methods)
    report()


if __name__ == "__main__":
    main()
