"""Which certified rule to keep, and how many rows to certify on: the default's test Φ, paired by fit.

A fit tests a ladder of rules on its safety rows in a fixed sequence; every
rule that passes before the first failure is certified, and one of them is
kept (``FairnessObjective._best_certified``). Two ways to keep one:

* ``most accurate``: the most accurate certified rule on the selection rows
  (the choice before this script). It often sits just under ε, where a new
  sample's bias crosses the tolerance and Φ drops to 0;
* ``expected Φ``: the certified rule with the highest balanced accuracy times
  chance that its ``|bias|`` is under ε, both read on the safety rows, a
  constant only when nothing else was certified (the default before pooling);
* ``pooled Φ`` (at 0.7 only): the same, with the chance read from the
  selection and safety rows' estimates of the bias pooled by their inverse
  variances (``FairnessObjective.pooled``), in every fit. Both are
  independent readings of one rule's bias, and the safety rows alone leave a
  COMPAS rule's chance near 0.7 where it is fair on test far more often; but
  the selection rows chose the ladder, so their estimates lean toward 0, and
  most where the offset reads proxies (``proxy_choice.md``'s drift);
* ``pooled Φ unless hedged`` (at 0.7 only, the default): pooled, except in
  the fits that hedge because the offset reads proxies
  (``selection.reads_proxies``), which read the safety rows alone.

Where the uniform band applies (docs/method.md §6), a fit chooses and
certifies on every row and keeps the most accurate rule the band certifies,
so the two coincide there; the table shows those fits apart.

Each is fitted at ``holdout_size`` 0.5 (35% of the rows certify) and 0.7
(49%). Every variant is fitted on the same split and base network as
``quality.py``, at three fit seeds per (cell, seed) (``random_state`` seed,
seed + 1000, seed + 2000: the fit's own split of its rows, the main source of
noise), so the gaps are paired by fit; their standard errors are over the
(cell, seed) means, since a seed's fits share one test split. Each
(protocol, cell, seed) is stored as it finishes under benchmarks/cache/pick/::

    python benchmarks/pick.py                           # the aware protocol
    python benchmarks/pick.py --protocol unaware
    python benchmarks/pick.py --cells compas:race:spd --seeds 0 1
    python benchmarks/pick.py --report

Writes benchmarks/results/pick.md and .json.
"""

import contextlib
import json
import warnings
from functools import partial
from unittest import mock

import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator

from skfairmask import FairMaskDebiaser
from skfairmask.objective import FairnessObjective

from _common import (CACHE, CERTIFICATION_ONLY, CERTIFICATION_ONLY_NOTE, CERTIFIED_ON, PROTOCOLS, RESULTS,
                     certified_rows, collect_then_report, collect_variants, stored_runs, variant_seeds, write_results)
from quality import CELLS, EPSILON, figures_on_test


def most_accurate(self, certified, selection, safety):
    """The choice before this script: the most accurate certified rule on the selection rows."""
    return int(certified[np.argmax(selection.balanced_accuracy[certified])])


#: The package's reading of the certified rules, kept before any variant patches it.
_READING = FairnessObjective._reading


def safety_rows_alone(self, selection, safety, future_ratio):
    """The choice's reading before pooling: each certified rule's bias on the safety rows alone."""
    return safety


def pooled_when_hedged(self, selection, safety, future_ratio):
    """The package's reading, pooled in the hedged fits too, which pass no ratio (one result: one ratio)."""
    return _READING(self, selection, safety,
                    safety.n_rows / selection.n_rows if future_ratio is None else future_ratio)


#: Choice rule → the method it patches and the patch that makes it (None: the package's own).
CHOICES = {"most accurate": ("_best_certified", most_accurate), "expected Φ": ("_reading", safety_rows_alone),
           "pooled Φ": ("_reading", pooled_when_hedged), "pooled Φ unless hedged": None}
HOLDOUTS = (0.5, 0.7)
VARIANTS = [(choice, holdout) for choice in ("most accurate", "expected Φ") for holdout in HOLDOUTS] + [
    ("pooled Φ", 0.7), ("pooled Φ unless hedged", 0.7)]
#: The variants every gap is taken against: the default before this script, and before pooling.
BEFORE = ("most accurate", 0.5)
BEFORE_POOLING = ("expected Φ", 0.7)
FIT_SEEDS = (0, 1000, 2000)
RUNS = CACHE / "pick"
#: What the report reads of each fit.
FIGURES = ("phi", "balanced_accuracy", "fair", "constant", "tolerance_met")


def name(choice, holdout):
    return f"{choice} @ {holdout}"


def fit_variant(choice, holdout, offset, net, split, metric, seed):
    """One fit of a variant at the fit seed ``seed + offset``; its test figures and where it certified."""
    debiaser = FairMaskDebiaser(FrozenEstimator(net), bias_metric=metric, epsilon=EPSILON, holdout_size=holdout,
                                random_state=seed + offset, **CERTIFICATION_ONLY)
    patch = CHOICES[choice]
    with (mock.patch.object(FairnessObjective, *patch) if patch else contextlib.nullcontext()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        debiaser.fit(*split.validation[:2], sensitive=split.validation[2])
    figures = figures_on_test(debiaser.predict(split.test[0]), split, metric)
    return {**figures, "fair": bool(abs(figures[metric]) < EPSILON),
            "tolerance_met": bool(debiaser.tolerance_met_), "rows": debiaser.certificate_["rows"]}


def collect(protocol, cells, seeds):
    """Fit every variant at every fit seed on every missing (cell, seed), saving each as it finishes."""
    fits = {f"{name(choice, holdout)}|{offset}": partial(fit_variant, choice, holdout, offset)
            for choice, holdout in VARIANTS for offset in FIT_SEEDS}
    collect_variants(RUNS, stored(), protocol, cells, variant_seeds(seeds), fits)


def stored():
    """Every stored (protocol, cell, seed): the committed results, then the run files."""
    path = RESULTS / "pick.json"
    runs = {}
    for record in json.loads(path.read_text()) if path.exists() else []:
        key = (record["protocol"], record["cell"], record["seed"])
        runs.setdefault(key, {})[f"{record['variant']}|{record['fit_seed']}"] = record
    for protocol in PROTOCOLS:
        for cell, seed, fits in stored_runs(RUNS, prefix=f"{protocol}_"):
            runs[protocol, cell, seed] = fits
    return runs


def frame():
    """One row per fit: (protocol, cell, seed, variant, fit seed) and :data:`FIGURES`."""
    rows = []
    for (protocol, cell, seed), fits in stored().items():
        for key, run in fits.items():
            variant, offset = key.rsplit("|", 1)
            rows.append({"protocol": protocol, "cell": cell, "dataset": cell.split(":")[0], "seed": seed,
                         "variant": variant, "fit_seed": int(offset), "rows": certified_rows(run),
                         **{k: run[k] for k in FIGURES}})
    return pd.DataFrame(rows)


def paired_gap(part, before):
    """Mean gap in Φ to ``before`` over paired fits, its standard error over (cell, seed) means, wins, losses."""
    keys = ["cell", "seed", "fit_seed"]
    gap = (part.set_index(keys).phi - before.set_index(keys).phi).dropna()
    clustered = gap.groupby(level=["cell", "seed"]).mean()
    spread = clustered.std(ddof=1) / np.sqrt(len(clustered)) if len(clustered) > 1 else 0.0
    return gap.mean(), spread, int((gap > 1e-9).sum()), int((gap < -1e-9).sum())


def report():
    data = frame()
    lines = [
        "# Which certified rule to keep, and how many rows to certify on (ε = 0.05)", "",
        CERTIFICATION_ONLY_NOTE, "",
        ("Produced by `python benchmarks/pick.py`. *most accurate* keeps the most accurate certified rule on the "
         "selection rows, *expected Φ* the one with the highest balanced accuracy times chance of |bias| < ε on "
         "the safety rows (the default before pooling); each at holdout_size 0.5 (35% of the rows certify) and "
         "0.7 (49%, the default). *pooled Φ* (at 0.7) is *expected Φ* with that chance read from the selection "
         "and safety rows' estimates of the bias pooled by their inverse variances, in every fit; *pooled Φ "
         "unless hedged* (the default) pools except in the fits that hedge because the offset reads proxies "
         "(every unaware fit here), which read the safety rows alone. Every variant is fitted on the same split and base network, at three fit seeds per (cell, "
         "seed); each gap is per fit, to *most accurate @ 0.5* (the default before) and to *expected Φ @ 0.7* "
         "(the default before pooling), mean ± standard error over the (cell, seed) means, with the fits it "
         "wins and loses. *fair* is the share of runs fair on test, "
         "*constant* the share predicting one class; the balanced accuracy is over the runs fair on test. "
         "*aware* keeps the protected attribute among the features, *unaware* drops its column before the base "
         "network is trained (as in quality.py). *certified on* is where the fits certified: their safety "
         "rows, or every row where the uniform band applies (docs/method.md §6). There the fit keeps the most "
         "accurate rule the band certifies, whatever the variant, and holdout_size changes only which shifts "
         "the offset tries, whose scale is read off the training rows."), "",
        "| protocol | dataset | certified on | variant | fits | mean Φ (fair, constant) | balanced accuracy of fair runs "
        "| gap to most accurate @ 0.5 (wins / losses) | gap to expected Φ @ 0.7 (wins / losses) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (protocol, dataset, route), rows in data.groupby(["protocol", "dataset", "rows"]):
        references = [(name(*reference), rows[rows.variant == name(*reference)])
                      for reference in (BEFORE, BEFORE_POOLING)]
        for variant in [name(*v) for v in VARIANTS]:
            part = rows[rows.variant == variant]
            if part.empty:
                continue
            fair = part[part.fair]
            cells = (f"| {protocol} | {dataset} | {CERTIFIED_ON[route]} | {variant} | {len(part)} "
                     f"| {part.phi.mean():.3f} "
                     f"({part.fair.mean():.0%}, {part.constant.mean():.0%}) | {fair.balanced_accuracy.mean():.3f} ")
            for reference, before in references:
                if variant == reference:
                    cells += "| "
                else:
                    mean, spread, wins, losses = paired_gap(part, before)
                    cells += f"| {mean:+.3f} ± {spread:.3f} ({wins} / {losses}) "
            lines.append(cells + "|")
    write_results("pick", data, "\n".join(lines) + "\n")


if __name__ == "__main__":
    collect_then_report(__doc__, collect, report, protocol=dict(choices=PROTOCOLS, default="aware"),
                        cells=dict(nargs="+", default=CELLS),
                        seeds=dict(type=int, nargs="+", default=None, help="default: 0-14 Adult, 0-9 others"))
