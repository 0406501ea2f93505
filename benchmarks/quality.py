"""Test Φ of every skfairmask strategy against every peer, on the DESIGN §3 protocol.

Cells: Adult (sex, race), COMPAS (sex, race), German (sex, age) × SPD, EOD,
AOD, with ε = 0.05. For each cell and seed: a 60/20/20 split, the base network
trained on train (cached under benchmarks/cache/), every method fitted on the
validation split only (ExponentiatedGradient retrains on train, as
in-processing does), every figure measured on the test split.

Each (cell, seed) is its own command, and its runs are stored as they finish
under benchmarks/cache/quality/, so an interrupted run resumes and several
cells can run side by side::

    python benchmarks/quality.py --quick                      # seed 0, every cell
    python benchmarks/quality.py --cells adult:sex:spd --seeds 1
    python benchmarks/quality.py --commands                   # one line per cell and seed
    python benchmarks/quality.py --report                     # tables and plots only

Writes benchmarks/results/quality.json (every run), quality.md and one Pareto
plot per dataset (quality_<dataset>.png).
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
import sklearn  # noqa: E402
import torch  # noqa: E402
from sklearn.frozen import FrozenEstimator  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402

from skfairmask import FairMaskDebiaser, make_phi_scorer  # noqa: E402
from skfairmask.datasets import protocol_split  # noqa: E402
from skfairmask.report import fairness_summary  # noqa: E402
from skfairmask.strategies import STRATEGIES  # noqa: E402

from _common import CACHE, LOADERS, RESULTS, base_network, mean_std, runs_frame  # noqa: E402
from _peers import PEERS  # noqa: E402

EPSILON = 0.05
CELLS = [f"{dataset}:{attribute}:{metric}"
         for dataset, attribute in [("adult", "sex"), ("adult", "race"), ("compas", "sex"),
                                    ("compas", "race"), ("german", "sex"), ("german", "age")]
         for metric in ("spd", "eod", "aod")]
SEEDS = [0, 1, 2, 3, 4]
#: The strategy a user gets without choosing one.
DEFAULT = "skfairmask:prune_advft"
GRID = "skfairmask:prune_advft+grid"
#: A small search on the validation split: mask sparsity and temperature, or mask epochs.
GRID_PARAMS = [{"tau": [0.01, 0.1], "beta": [0.003, 0.03]}, {"epochs": [5, 20]}]
VARIANTS = ["prune_advft@finetune_loss=surrogate", "prune_advft@n_bootstrap=50"]
#: Every method of a full run; the grid search runs last, being the slowest.
METHODS = [*PEERS, *(f"skfairmask:{name}" for name in [*STRATEGIES, *VARIANTS]), GRID]
#: ``--quick``: one seed, and the strategies that the strategy benchmark found strongest.
QUICK_METHODS = [*PEERS, *(f"skfairmask:{name}" for name in
                           ["none", "prune", "adv_ft", "prune_advft", *VARIANTS, "graft_external"]), GRID]
#: Where a figure of the FairMask paper sits beside ours: cell → (method, Φ, bias).
PAPER = {"adult:sex:aod": ("Prune+AdvFt", 0.77, 0.049), "adult:race:spd": ("Prune+AdvFt", 0.64, None),
         "compas:sex:eod": ("Prune+AdvFt", 0.61, 0.035)}
RUNS = CACHE / "quality"
RUNS_JSON = RESULTS / "quality.json"


def _parse(value):
    """A parameter value from the method's name: a number where it reads as one, else the string."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _debiaser(net, metric, seed, options=""):
    pairs = (option.split("=") for option in options.split(",") if option)
    params = {name: _parse(value) for name, value in pairs}
    return FairMaskDebiaser(FrozenEstimator(net), bias_metric=metric, epsilon=EPSILON,
                            random_state=seed, **params)


def fit_skfairmask(method, net, split, metric, seed):
    """Fit one skfairmask method on validation; return it and its extra figures."""
    Xv, yv, Av = split.validation
    if method == GRID:
        with sklearn.config_context(enable_metadata_routing=True):
            search = GridSearchCV(
                _debiaser(net, metric, seed), GRID_PARAMS,
                scoring=make_phi_scorer(metric, epsilon=EPSILON),
                cv=StratifiedKFold(2, shuffle=True, random_state=seed), error_score=0.0,
            ).fit(Xv, yv, sensitive=Av)
        fitted = search.best_estimator_
        extra = {"best_params": search.best_params_}
    else:
        strategy, _, options = method.removeprefix("skfairmask:").partition("@")
        fitted = _debiaser(net, metric, seed, options).set_params(strategy=strategy).fit(Xv, yv, sensitive=Av)
        extra = {}
    return fitted, {**extra, "pruning_rate": fitted.pruning_rate_}


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
    _, yt, At = split.test
    # Float sums, and so a fit's last bits, depend on the thread count (thread_sensitivity.py).
    return {**fairness_summary(yt, predictions, At, bias_metric=metric, epsilon=EPSILON),
            **extra, "fit_seconds": seconds, "torch_threads": torch.get_num_threads()}


def _run_file(cell, seed):
    return RUNS / f"{cell.replace(':', '_')}_seed{seed}.json"


def collect(cells, seeds, methods):
    """Run every missing (cell, seed, method), saving each run as it finishes."""
    RUNS.mkdir(parents=True, exist_ok=True)
    done = load_runs()
    for cell in cells:
        dataset, protected, _ = cell.split(":")
        X, y, A = LOADERS[dataset](protected)
        for seed in seeds:
            path = _run_file(cell, seed)
            runs = json.loads(path.read_text()) if path.exists() else {}
            split, net = None, None
            for method in methods:
                key = f"{cell}|{seed}|{method}"
                if key in done or method in runs:
                    continue
                if net is None:
                    split = protocol_split(X, y, A, random_state=seed)
                    net = base_network(split, dataset, protected, seed)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    runs[method] = run(cell, seed, method, split, net)
                path.write_text(json.dumps(runs, indent=1))
                result = runs[method]
                print(f"{key}: Φ {result['phi']:.3f}, balanced accuracy {result['balanced_accuracy']:.3f}, "
                      f"bias {result[cell.split(':')[2]]:+.3f}, {result['fit_seconds']:.1f} s", flush=True)


def load_runs():
    """Every stored run, keyed ``cell|seed|method``: the committed JSON, then the run files."""
    runs = json.loads(RUNS_JSON.read_text()) if RUNS_JSON.exists() else {}
    for path in sorted(RUNS.glob("*.json")) if RUNS.exists() else []:
        stem, seed = path.stem.rsplit("_seed", 1)
        cell = stem.replace("_", ":")
        for method, result in json.loads(path.read_text()).items():
            runs[f"{cell}|{seed}|{method}"] = result
    return runs


def frame(runs):
    return runs_frame(runs, "method")


def _is_ours(method):
    return method.startswith("skfairmask:")


def _needs(method):
    """(needs A at prediction, retrains) of a method."""
    return PEERS[method][1:] if method in PEERS else (False, False)


def _order(methods):
    return [m for m in METHODS if m in set(methods)]


def _by_cell(data):
    """(cell, rows) pairs in the order of ``CELLS``."""
    return [(cell, data[data.cell == cell]) for cell in CELLS if cell in set(data.cell)]


def _paired_phi(data, methods):
    """Test Φ of ``methods`` side by side, one row per (cell, seed) on which all of them ran."""
    return (data[data.method.isin(methods)]
            .pivot_table(index=["cell", "seed"], columns="method", values="phi")
            .reindex(columns=methods).dropna())


def _paired_gap(part, ours, peer):
    """Mean and standard error over seeds of ``Φ(ours) - Φ(peer)``, on the seeds both ran."""
    phi = _paired_phi(part, [ours, peer])
    gap = phi[ours] - phi[peer]
    return gap.mean(), gap.std(ddof=1) / np.sqrt(len(gap)) if len(gap) > 1 else np.nan


def _on_every_seed(part):
    """The methods that ran on every seed of one cell's runs.

    A method run on fewer seeds would be compared on its luckiest seeds.
    """
    seeds = part.groupby("method").seed.nunique()
    return seeds.index[seeds == part.seed.nunique()]


def verdicts(data):
    """Per cell: the best skfairmask method (defaults only) against the best peer, by mean test Φ.

    Only the skfairmask methods that ran on every seed of the cell compete.

    The best strategy's gap to the best peer is also taken seed by seed (both
    ran on the same split), with its standard error: a loss counts as beyond
    the seeds' noise when the mean gap plus two standard errors stays below 0.
    """
    rows = []
    for cell, part in _by_cell(data):
        phi = part.groupby("method").phi.mean()
        ours = phi[[m for m in _on_every_seed(part) if _is_ours(m) and m != GRID]]
        peers = phi[[m for m in phi.index if not _is_ours(m) and m != "base@balanced_accuracy"]]
        if ours.empty or peers.empty:
            continue
        gap, gap_se = _paired_gap(part, ours.idxmax(), peers.idxmax())
        rows.append({"cell": cell, "seeds": part.seed.nunique(), "ours": ours.idxmax(), "ours_phi": ours.max(),
                     "default_phi": phi.get(DEFAULT, np.nan),
                     "grid_phi": phi.get(GRID, np.nan), "grid_seeds": part[part.method == GRID].seed.nunique(),
                     "peer": peers.idxmax(), "peer_phi": peers.max(), "gap": gap, "gap_se": gap_se})
    table = pd.DataFrame(rows)
    if not table.empty:
        table["matches"] = table.ours_phi - table.peer_phi >= -0.005
        table["within_noise"] = ~table.matches & ~(table.gap + 2 * table.gap_se < 0)
    return table


def _verdict(row):
    if row.matches:
        return "matches or beats"
    return f"loses by {row.peer_phi - row.ours_phi:.3f}" + (" (within the seeds' noise)" if row.within_noise else "")


def markdown(runs):
    data = frame(runs)
    methods = _order(data.method.unique())
    lines = ["# skfairmask against its peers, DESIGN §3 protocol (test split, ε = 0.05)", "",
             "Produced by `python benchmarks/quality.py`. Every method was fitted on the validation "
             "split of the same 60/20/20 split and scored on its test split; the post-processors read "
             "the same base network's scores. Φ is the balanced accuracy where test |bias| < ε, else 0. "
             "Mean ± std over seeds; *fair* is the share of seeds with test |bias| < ε. *fit s* is wall "
             "time on a 2-core machine that other jobs shared at times: indicative only (`speed.md` has "
             "clean timings). Runs were made with 2 torch threads, or 1 where cells ran side by side; "
             "a fit's last bits depend on the thread count, and `thread_sensitivity.md` measures how "
             "far that moves Φ and which runs each thread count reproduces.", "",
             "## The methods", "",
             "| method | needs A at prediction | retrains the model |", "|---|---|---|"]
    for method in methods:
        needs_a, retrains = _needs(method)
        lines.append(f"| {method} | {'yes' if needs_a else 'no'} | {'yes' if retrains else 'no'} |")
    lines += ["", "`base@balanced_accuracy` is the unfair network at the threshold that maximises "
              "validation balanced accuracy; `skfairmask:none` is the same network at the Φ-optimal "
              "threshold. `skfairmask:<strategy>` ran with the defaults a user gets; "
              f"`{GRID}` is a 2-fold GridSearchCV on the validation split over {GRID_PARAMS}, "
              "scored by `make_phi_scorer`. ExponentiatedGradient retrains an MLP (32, 32) on the train "
              "split with the constraint bounded by ε.", ""]
    lines += _verdict_lines(data) + _paper_lines(data) + _grid_lines(data) + _bootstrap_lines(data)
    lines += ["The Pareto plots (test balanced accuracy against test |bias|, mean over seeds, one panel "
              "per cell) are `benchmarks/results/quality_<dataset>.png`.", ""]
    lines += ["## Mean test Φ, every cell", "",
              "Means over the seeds each method ran on; a method that ran on fewer seeds than the others "
              "(each cell's *seeds* column below) is not comparable with them.", ""]
    phi = data.pivot_table(index="cell", columns="method", values="phi", aggfunc="mean")
    phi = phi.reindex(index=[cell for cell, _ in _by_cell(data)], columns=methods)
    lines += ["```", phi.T.round(3).to_string(), "```", ""]
    for cell, part in _by_cell(data):
        metric = cell.split(":")[2].upper()
        lines += [f"## {cell}: seeds {sorted(part.seed.unique().tolist())}", "",
                  f"| method | seeds | Φ | balanced accuracy | {metric} | fair | needs A | fit s |",
                  "|---|---|---|---|---|---|---|---|"]
        for method in _order(part.method.unique()):
            rows = part[part.method == method]
            lines.append(f"| {method} | {len(rows)} | {mean_std(rows.phi)} | {mean_std(rows.balanced_accuracy)} "
                         f"| {mean_std(rows.bias)} | {(rows.bias.abs() < EPSILON).mean():.0%} "
                         f"| {'yes' if _needs(method)[0] else 'no'} | {rows.fit_seconds.mean():.1f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _verdict_lines(data):
    table = verdicts(data)
    if table.empty:
        return []
    lines = ["## Does the best default strategy match every peer?", "",
             "Per cell, by mean test Φ: the best skfairmask strategy at its defaults (among those that "
             "ran on every seed of the cell), the default strategy "
             "(`prune_advft`), the grid search (on the seeds it ran), and the best peer (any of the "
             "post-processors or ExponentiatedGradient). The verdict compares the best strategy with the "
             "best peer. *Per-seed gap* is Φ(best strategy) − Φ(best peer) seed by seed, mean ± standard "
             "error; a loss is *within the seeds' noise* when the mean plus two standard errors reaches 0.", "",
             "| cell | seeds | best skfairmask strategy | Φ | `prune_advft` Φ | grid search Φ (seeds) "
             "| best peer | Φ | per-seed gap | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in table.itertuples():
        grid = f"{row.grid_phi:.3f} ({row.grid_seeds})" if row.grid_seeds else ""
        lines.append(f"| {row.cell} | {row.seeds} | {row.ours} | {row.ours_phi:.3f} | {row.default_phi:.3f} "
                     f"| {grid} | {row.peer} | {row.peer_phi:.3f} | {row.gap:+.3f} ± {row.gap_se:.3f} "
                     f"| {_verdict(row)} |")
    wins = int(table.matches.sum())
    default_wins = int((table.default_phi - table.peer_phi >= -0.005).sum())
    noisy = int(table.within_noise.sum())
    lines += ["", f"The best skfairmask strategy matches or beats the best peer (within 0.005) in {wins} of "
              f"{len(table)} cells; the default strategy alone does in {default_wins}. Of the "
              f"{len(table) - wins} losses, {noisy} are within the seeds' noise. Both sides are a maximum over "
              "several methods, so both gain from the seeds' luck on small test splits.", ""]
    return lines


def _paper_lines(data):
    lines = ["## The paper's figures beside ours", "",
             "| cell | paper | paper Φ | paper bias | our prune_advft Φ | our bias | our best Φ |",
             "|---|---|---|---|---|---|---|"]
    for cell, (method, paper_phi, paper_bias) in PAPER.items():
        part = data[data.cell == cell]
        if part.empty:
            continue
        ours = part[part.method == DEFAULT]
        complete = part[part.method.map(_is_ours) & part.method.isin(_on_every_seed(part))]
        best = complete.groupby("method").phi.mean().max()
        lines.append(f"| {cell} | {method} | {paper_phi:.2f} | {'' if paper_bias is None else paper_bias} "
                     f"| {mean_std(ours.phi)} | {mean_std(ours.bias.abs())} | {best:.3f} |")
    return lines + [""]


def _grid_lines(data):
    """The grid search against the default it tunes, on the (cell, seed) pairs where both ran."""
    phi = _paired_phi(data, [GRID, DEFAULT])
    if phi.empty:
        return []
    by_cell = phi.groupby(level="cell").mean()
    gain = by_cell[GRID] - by_cell[DEFAULT]
    return ["## Does the grid search help?", "",
            f"On the {len(phi)} (cell, seed) pairs where both ran, the grid search's mean test Φ is "
            f"{phi[GRID].mean():.3f} against {phi[DEFAULT].mean():.3f} for the defaults it "
            f"tunes. Per cell, it is ahead by more than 0.005 in {int((gain > 0.005).sum())} of {len(gain)} "
            f"cells and behind by more than 0.005 in {int((gain < -0.005).sum())}. A likely reason: two "
            "folds score each candidate on half the validation rows, where a small group's bias is noisy.", ""]


BOOTSTRAP_VARIANT = "skfairmask:prune_advft@n_bootstrap=50"


def _bootstrap_lines(data):
    """The default threshold choice against ``n_bootstrap=50``, per dataset, over all its cells and seeds."""
    pair = [DEFAULT, BOOTSTRAP_VARIANT]
    both = data[data.method.isin(pair)]
    if both.method.nunique() < 2:
        return []
    lines = ["## More resamples for the threshold on small data", "",
             "`prune_advft` with its default `n_bootstrap=5` and with `n_bootstrap=50`, over every cell and "
             "seed of a dataset where both ran (the holdout is 30% of the validation split: about 2,700 "
             "rows on Adult, 370 on COMPAS, 60 on German).", "",
             "| dataset | n_bootstrap | runs | fair on test | mean test Φ | mean balanced accuracy |",
             "|---|---|---|---|---|---|"]
    both = both.assign(dataset=both.cell.str.split(":").str[0])
    for dataset in LOADERS:
        part = both[both.dataset == dataset].groupby(["cell", "seed"]).filter(lambda g: g.method.nunique() == 2)
        for method, label in zip(pair, ("5 (default)", "50")):
            rows = part[part.method == method]
            if rows.empty:
                continue
            lines.append(f"| {dataset} | {label} | {len(rows)} | {(rows.bias.abs() < EPSILON).mean():.0%} "
                         f"| {rows.phi.mean():.3f} | {rows.balanced_accuracy.mean():.3f} |")
    return lines + [""]


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
            ax.scatter(means.loc[method, "abs_bias"], means.loc[method, "balanced_accuracy"],
                       marker="o" if ours else "s", color="tab:blue" if ours else "tab:orange")
            ax.annotate(method.split(":")[-1], (means.loc[method, "abs_bias"], means.loc[method, "balanced_accuracy"]),
                        fontsize=6, xytext=(3, 2), textcoords="offset points")
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
    for dataset in LOADERS:
        plot_pareto(data, dataset, RESULTS / f"quality_{dataset}.png")
    table = markdown(runs)
    (RESULTS / "quality.md").write_text(table)
    print(table)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=CELLS, help="dataset:attribute:metric")
    parser.add_argument("--seeds", type=int, nargs="+", default=SEEDS)
    parser.add_argument("--methods", nargs="+", default=None,
                        help="peer names, skfairmask:<strategy>[@parameter=value], or " + GRID)
    parser.add_argument("--quick", action="store_true", help="seed 0 and the strongest strategies only")
    parser.add_argument("--commands", action="store_true", help="print one command per cell and seed")
    parser.add_argument("--report", action="store_true", help="only write the tables and plots")
    args = parser.parse_args()
    seeds = [0] if args.quick else args.seeds
    methods = args.methods or (QUICK_METHODS if args.quick else METHODS)
    if args.commands:
        for seed in seeds:
            for cell in args.cells:
                print(f"python benchmarks/quality.py --cells {cell} --seeds {seed}"
                      + (" --quick" if args.quick else ""))
        return
    if not args.report:
        collect(args.cells, seeds, methods)
    report()


if __name__ == "__main__":
    main()
