"""How many rows to certify on: the default fit's test Φ at several ``holdout_size`` values, paired by seed.

A default fit (``strategy="auto"``, the output offset on these networks)
makes its choices on the training and selection rows and certifies on the
safety rows, ``SAFETY_SHARE`` (70%) of the ``holdout_size`` share held out.
More safety rows narrow the certificate (benchmarks/ceiling.py compares the
ceiling at the default's safety rows with that at all of them); fewer choice
rows make the choice noisier. Where the uniform band applies (docs/method.md
§6), the fit chooses and certifies on every row instead, and the table says
so. This script measures the trade on the cells of
``quality.py``, on either of its protocols: Adult seeds 0–14, COMPAS and
German 0–9, each holdout value fitted on the same split and base network as
``0.5`` (the default before benchmarks/pick.py; 0.7 is the default now), so
the gaps are paired. Each (protocol, cell, seed)
is stored as it finishes under benchmarks/cache/holdout/::

    python benchmarks/holdout.py                        # the aware protocol
    python benchmarks/holdout.py --protocol unaware
    python benchmarks/holdout.py --cells compas:race:spd --seeds 0 1
    python benchmarks/holdout.py --report

Writes benchmarks/results/holdout.md and .json.
"""

import warnings
from functools import partial

import numpy as np
from sklearn.frozen import FrozenEstimator

from skfairmask import FairMaskDebiaser

from _common import (CACHE, CERTIFICATION_ONLY, CERTIFICATION_ONLY_NOTE, CERTIFIED_ON, PROTOCOLS, certified_rows,
                     collect_then_report, collect_variants, stored_variants, variant_seeds, variants_frame,
                     write_results)
from quality import CELLS, EPSILON, figures_on_test

HOLDOUTS = (0.5, 0.6, 0.7, 0.85)
RUNS = CACHE / "holdout"
#: What the report reads of each fit.
FIGURES = ("phi", "balanced_accuracy", "fair", "constant", "safety_rows")


def fit_at(holdout, net, split, metric, seed):
    """The default fit at ``holdout_size=holdout``; its test figures and where it certified."""
    debiaser = FairMaskDebiaser(FrozenEstimator(net), bias_metric=metric, epsilon=EPSILON,
                                holdout_size=holdout, random_state=seed, **CERTIFICATION_ONLY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        debiaser.fit(*split.validation[:2], sensitive=split.validation[2])
    figures = figures_on_test(debiaser.predict(split.test[0]), split, metric)
    return {**figures, "fair": abs(figures[metric]) < EPSILON, "tolerance_met": bool(debiaser.tolerance_met_),
            "safety_rows": debiaser.certificate_["n_rows"], "rows": debiaser.certificate_["rows"]}


def collect(protocol, cells, seeds):
    """Fit the default at every holdout value on every missing (cell, seed), saving each as it finishes."""
    collect_variants(RUNS, stored(), protocol, cells, variant_seeds(seeds),
                     {str(holdout): partial(fit_at, holdout) for holdout in HOLDOUTS})


def stored():
    """Every stored (protocol, cell, seed), its fits keyed by holdout value: the committed results, then the
    run files."""
    return stored_variants("holdout", RUNS, variant="holdout_size")


def frame():
    """One row per fit: its (protocol, cell, seed), holdout value and :data:`FIGURES`."""
    runs = stored()
    data = variants_frame(runs, FIGURES, variant="holdout_size")
    rows = [certified_rows(fit) for fits in runs.values() for fit in fits.values()]
    return data.assign(holdout_size=data.holdout_size.astype(float), rows=rows)


def report():
    data = frame()
    lines = [
        "# Rows to certify on: the default's test Φ by holdout_size (ε = 0.05)", "",
        CERTIFICATION_ONLY_NOTE, "",
        ("Produced by `python benchmarks/holdout.py`. Each value is fitted on the same split and base network "
        "as 0.5 (0.7 is the default); the gap is per (cell, seed), mean ± standard error. *fair* is the share of runs "
        "fair on test, *constant* the share predicting one class; the balanced accuracy is over the runs "
        "fair on test. *aware* keeps the protected attribute among the features, *unaware* drops its "
        "column before the base network is trained (as in quality.py). *certified on* is where the fits "
        "certified: their safety rows, or every row where the uniform band applies (docs/method.md §6); there "
        "holdout_size changes only which shifts the offset tries, whose scale is read off the training rows. "
        "*rows certifying* is their mean count."), "",
        ("| protocol | dataset | certified on | holdout_size | rows certifying | runs | mean Φ (fair, constant) "
         "| balanced accuracy of fair runs | gap to 0.5 |"),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (protocol, dataset, route), rows in data.groupby(["protocol", "dataset", "rows"]):
        default = rows[rows.holdout_size == 0.5].set_index(["cell", "seed"]).phi
        for holdout, part in rows.groupby("holdout_size"):
            gap = (part.set_index(["cell", "seed"]).phi - default).dropna()
            spread = gap.std(ddof=1) / np.sqrt(len(gap)) if len(gap) > 1 else 0.0
            fair = part[part.fair]
            lines.append(
                f"| {protocol} | {dataset} | {CERTIFIED_ON[route]} | {holdout} "
                f"| {int(part.safety_rows.mean())} | {len(part)} "
                f"| {part.phi.mean():.3f} "
                f"({part.fair.mean():.0%}, {part.constant.mean():.0%}) | {fair.balanced_accuracy.mean():.3f} | "
                + ("" if holdout == 0.5 else f"{gap.mean():+.3f} ± {spread:.3f}") + " |")
    write_results("holdout", data, "\n".join(lines) + "\n")


if __name__ == "__main__":
    collect_then_report(__doc__, collect, report, protocol=dict(choices=PROTOCOLS, default="aware"),
                        cells=dict(nargs="+", default=CELLS),
                        seeds=dict(type=int, nargs="+", default=None, help="default: 0-14 Adult, 0-9 others"))
