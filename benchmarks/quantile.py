"""The quantile strategy against the default, on the SPD cells with the attribute a feature: test Φ, paired.

``strategy="quantile"`` sets each group's threshold at one quantile of its
scores on the certifying rows (training and safety rows, 79%), so that the
rule's bias has a law known from the row counts alone, and chooses only the
rate, on the selection rows (docs/method.md §6). It applies where the
protected attribute is a column of ``X`` with two groups, on SPD: the aware
protocol's six SPD cells. On Adult the default certifies on every row under a
uniform band already; on COMPAS it certifies on its safety rows.

Both are fitted on the same split and base network as ``quality.py``, at
three fit seeds per (cell, seed) (``random_state`` seed, seed + 1000,
seed + 2000), so the gaps are paired by fit; their standard errors are over
the (cell, seed) means, since a seed's fits share one test split. The column
*test noise alone* is the chance that a rule whose population SPD is exactly
0, with the fit's favourable rate in each group, measures |SPD| ≥ ε on this
test split, from the test rows' own binomial noise: the share of runs that
no method can keep fair on test at that rate. Each (cell, seed) is stored as
it finishes under benchmarks/cache/quantile/::

    python benchmarks/quantile.py
    python benchmarks/quantile.py --cells compas:race:spd --seeds 0 1
    python benchmarks/quantile.py --report

Writes benchmarks/results/quantile.md and .json.
"""

import time
import warnings
from functools import partial

import numpy as np
from scipy.stats import norm
from sklearn.frozen import FrozenEstimator

from skfairmask import FairMaskDebiaser

from _common import (CACHE, CERTIFICATION_ONLY, CERTIFICATION_ONLY_NOTE, CERTIFIED_ON, bias_variance,
                     collect_then_report, collect_variants, stored_variants, variant_seeds, variants_frame,
                     write_results)
from quality import EPSILON, figures_on_test

CELLS = [f"{dataset}:{attribute}:spd" for dataset, attributes in
         (("adult", ("sex", "race")), ("compas", ("sex", "race")), ("german", ("sex", "age")))
         for attribute in attributes]
STRATEGIES = ("auto", "quantile")
FIT_SEEDS = (0, 1000, 2000)
RUNS = CACHE / "quantile"
FIGURES = ("phi", "balanced_accuracy", "fair", "constant", "tolerance_met", "certified_epsilon", "rows",
           "test_se", "test_noise", "fit_seconds")
CERTIFIED_WHERE = {**CERTIFIED_ON, "quantiles": "quantiles"}


def fit_strategy(strategy, offset, net, split, metric, seed):
    """One fit at the fit seed ``seed + offset``: its test figures, its certificate, the test's own noise."""
    debiaser = FairMaskDebiaser(FrozenEstimator(net), strategy=strategy, bias_metric=metric, epsilon=EPSILON,
                                random_state=seed + offset, **CERTIFICATION_ONLY)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        debiaser.fit(*split.validation[:2], sensitive=split.validation[2])
    seconds = time.perf_counter() - start
    predictions = np.asarray(debiaser.predict(split.test[0]))
    figures = figures_on_test(predictions, split, metric)
    favourable = predictions == debiaser.classes_[-1]
    y, groups = (np.asarray(part) for part in split.test[1:3])
    # The test's noise for a rule of population SPD exactly 0: the fit's favourable rate in both groups.
    test_se = float(np.sqrt(bias_variance(np.full(len(y), favourable.mean()), y, groups, "spd")))
    return {**figures, "fair": bool(abs(figures[metric]) < EPSILON),
            "tolerance_met": bool(debiaser.tolerance_met_), "certified_epsilon": debiaser.certified_epsilon_,
            "rows": debiaser.certificate_["rows"], "fit": f"{strategy}|{offset}", "fit_seconds": seconds,
            "test_se": test_se, "test_noise": float(2 * norm.sf(EPSILON / test_se)) if test_se > 0 else 0.0}


def collect(cells, seeds):
    """Fit both strategies at every fit seed on every missing (cell, seed), saving each as it finishes."""
    fits = {f"{strategy}|{offset}": partial(fit_strategy, strategy, offset)
            for strategy in STRATEGIES for offset in FIT_SEEDS}
    stored = stored_variants("quantile", RUNS, variant="fit")
    collect_variants(RUNS, stored, "aware", cells, variant_seeds(seeds), fits)


def report():
    data = variants_frame(stored_variants("quantile", RUNS, variant="fit"), FIGURES, variant="fit")
    data[["strategy", "fit_seed"]] = data.fit.str.split("|", expand=True)
    lines = [
        "# The quantile strategy against the default, on the SPD cells (aware protocol, ε = 0.05)", "",
        CERTIFICATION_ONLY_NOTE, "",
        ("Produced by `python benchmarks/quantile.py`. Both strategies are fitted on quality.py's split "
         "and base network at three fit seeds per (cell, seed); the gap is per fit, quantile minus auto, "
         "mean ± standard error over the (cell, seed) means, with the fits it wins and loses. *fair* is "
         "the share of runs fair on test, *certified* the share whose fit certified both |SPD| < ε and a "
         "balanced accuracy above a constant's at 80%, *constant* the share predicting one class on test; "
         "the balanced accuracy is over the runs fair on test. *certified on*: the default's route (every "
         "row under the uniform band, or its safety rows), or quantiles. *certified ε*: the mean of "
         "`certified_epsilon_`, the bound on the population's |SPD| at 80% (0 for a constant rule). *test "
         "SE*: the mean standard error of SPD on the test split for a rule at the fit's favourable rate. "
         "*test noise alone*: the mean chance that a rule of population SPD exactly 0, at that rate, "
         "measures |SPD| ≥ ε on the test split, from the test rows' noise alone. *fit s*: the mean wall "
         "time of a fit, one torch thread, one fit at a time on a 2-core machine."),
        "",
        ("| dataset | strategy | certified on | fits | mean Φ (fair, constant) | certified | balanced "
         "accuracy of fair runs | certified ε | test SE | test noise alone | fit s | gap to auto "
         "| wins / losses |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for dataset, rows in data.groupby("dataset", sort=False):
        default = rows[rows.strategy == "auto"].set_index(["cell", "seed", "fit_seed"]).phi
        for strategy in STRATEGIES:
            part = rows[rows.strategy == strategy]
            routes = ", ".join(sorted({CERTIFIED_WHERE[r] for r in part.rows}))
            fair = part[part.fair]
            cells = (f"| {dataset} | {strategy} | {routes} | {len(part)} | {part.phi.mean():.3f} "
                     f"({part.fair.mean():.0%}, {part.constant.mean():.0%}) "
                     f"| {part.tolerance_met.mean():.0%} "
                     f"| {fair.balanced_accuracy.mean():.3f} | {part.certified_epsilon.mean():.3f} "
                     f"| {part.test_se.mean():.3f} | {part.test_noise.mean():.1%} "
                     f"| {part.fit_seconds.mean():.2f} ")
            if strategy == "auto":
                lines.append(cells + "| | |")
                continue
            gap = (part.set_index(["cell", "seed", "fit_seed"]).phi - default).dropna()
            clustered = gap.groupby(level=["cell", "seed"]).mean()
            spread = clustered.std(ddof=1) / np.sqrt(len(clustered))
            wins, losses = (gap > 1e-9).sum(), (gap < -1e-9).sum()
            lines.append(cells + f"| {gap.mean():+.3f} ± {spread:.3f} | {wins} / {losses} |")
    write_results("quantile", data, "\n".join(lines) + "\n")


if __name__ == "__main__":
    collect_then_report(__doc__, collect, report, cells=dict(nargs="+", default=CELLS),
                        seeds=dict(type=int, nargs="+", default=None, help="default: 0-14 Adult, 0-9 others"))
