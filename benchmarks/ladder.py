"""Which certification ladder: the default fit's test Φ with each choice of rungs, paired by seed.

A fit tests a short sequence of candidate rules on its safety rows
(``FairnessObjective._sequence``) and keeps one of those that passed before
the first failure (``FairnessObjective._best_certified``). Which candidates
make the sequence is the choice measured here, at the default confidence
(``skfairmask.objective.LADDERS``):

* ``bound``: the most accurate rule whose bound, predicted for the safety
  rows, is under each share of ε in ``BOUND_SHARES``;
* ``chance``: the most accurate rule whose predicted chance of passing is at
  least each level of ``PASS_CHANCES``;
* ``bound + chance``: both ladders' rungs, merged in order of accuracy;
* ``bound (21 shares) + chance``: the same with the shares of ε every 0.05,
  to see whether finer rungs lose fewer fits to an early failure;
* ``bound + chance, hedged everywhere``: the default's ladders, with the hedge
  of ``FairnessObjective.certify_hedged`` (two ladders, each at half the
  error) wherever a fit certifies on its safety rows, not only where the
  offset reads proxies (``selection.reads_proxies``): what the hedge costs
  where the selection rows' estimates owe nothing to a proxy.

Every variant is fitted on the same split and base network, so the gaps are
paired, on the cells of ``quality.py``: Adult seeds 0–14 and COMPAS and
German 0–9, on both protocols. A ladder is fixed before any safety row is
read, so the confidence holds for each; the splits of ``guarantee.py`` check
that it does (the share of fits that claim the tolerance and break it on
test). Fits that certify on every row under the uniform band (docs/method.md
§6) test no ladder; the tables show them apart. Each run is stored as it
finishes under benchmarks/cache/ladder/::

    python benchmarks/ladder.py
    python benchmarks/ladder.py --protocols aware --cells compas:race:spd --seeds 0 1 --bases
    python benchmarks/ladder.py --report

Writes benchmarks/results/ladder.md, ladder.json (the cells) and
ladder_guarantee.json (the guarantee splits).
"""

import contextlib
import json
import warnings
from functools import partial
from unittest import mock

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from sklearn.frozen import FrozenEstimator

from skfairmask import FairMaskDebiaser, objective, selection
from skfairmask.objective import DEFAULT_CONFIDENCE

import guarantee
from _common import (CACHE, CERTIFICATION_ONLY, CERTIFICATION_ONLY_NOTE, CERTIFIED_ON, PROTOCOLS, RESULTS,
                     VARIANT_SEEDS, collect_then_report, collect_variants, paired_gap, stored_variants, variant_seeds,
                     variants_frame, write_results)
from quality import CELLS, EPSILON, figures_on_test

#: Variant name → the settings of :mod:`skfairmask.objective` it changes (``LADDERS``, and ``BOUND_SHARES``),
#: and whether every fit that certifies on its safety rows hedges (``HEDGED``).
HEDGED = "hedged"
VARIANTS = {"bound": {"LADDERS": ("bound",)}, "chance": {"LADDERS": ("chance",)},
            "bound + chance": {"LADDERS": ("bound", "chance")},
            "bound (21 shares) + chance": {"LADDERS": ("bound", "chance"),
                                           "BOUND_SHARES": tuple(np.round(np.linspace(0, 1, 21), 2))},
            "bound + chance, hedged everywhere": {"LADDERS": ("bound", "chance"), HEDGED: True}}
DEFAULT = next(name for name, settings in VARIANTS.items() if settings == {"LADDERS": objective.LADDERS})
RUNS = CACHE / "ladder"
#: guarantee.py's cells that the ladders are checked on: its SPD cells, named by dataset.
GUARANTEE_CELLS = ("adult", "compas")
#: What the report reads of each fit (``rows``: where it certified, ``Certificate.rows``).
FIGURES = ("phi", "balanced_accuracy", "fair", "constant", "tolerance_met", "rows")
#: The ladders are compared at the default confidence. (They were first measured at 0.90, the default
#: then; the rerun at 0.80 replaced those runs.)
CONFIDENCE = DEFAULT_CONFIDENCE


def _hedges_everywhere(results, data):
    """``selection.reads_proxies`` for the hedged variant: every two-group fit hedges on its safety rows."""
    return data.safety.sensitive.dim() == 1


def fit_variant(settings, net, split, metric, seed):
    """The default fit with the certification sequence built from ``settings``; its test figures."""
    debiaser = FairMaskDebiaser(FrozenEstimator(net), bias_metric=metric, epsilon=EPSILON, confidence=CONFIDENCE,
                                random_state=seed, **CERTIFICATION_ONLY)
    settings = dict(settings)
    hedge = (mock.patch.object(selection, "reads_proxies", _hedges_everywhere) if settings.pop(HEDGED, False)
             else contextlib.nullcontext())
    with mock.patch.multiple(objective, **settings), hedge, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        debiaser.fit(*split.validation[:2], sensitive=split.validation[2])
    figures = figures_on_test(debiaser.predict(split.test[0]), split, metric)
    return {**figures, "fair": bool(abs(figures[metric]) < EPSILON),
            "tolerance_met": bool(debiaser.tolerance_met_), "rows": debiaser.certificate_["rows"]}


def collect(protocols, cells, seeds, bases):
    """Fit every variant on every missing (protocol, cell, seed) and guarantee split, saving each run."""
    collect_cells(protocols, cells, seeds)
    collect_guarantee(bases)


def collect_cells(protocols, cells, seeds):
    """Fit every variant on every missing (protocol, cell, seed) of quality.py's protocol."""
    fits = {name: partial(fit_variant, settings) for name, settings in VARIANTS.items()}
    for protocol in protocols:
        collect_variants(RUNS, stored(), protocol, cells, variant_seeds(seeds), fits)


def collect_guarantee(bases):
    """Fit every variant on every missing split of guarantee.py's bases, with its seeds and networks."""
    RUNS.mkdir(parents=True, exist_ok=True)
    done = stored_guarantee()
    done = {} if done.empty else {key: rows.set_index("variant").to_dict("index")
                                  for key, rows in done.groupby(["dataset", "base", "split"])}
    for dataset in GUARANTEE_CELLS:
        cell = guarantee.CELLS[dataset]
        data = guarantee.cell_data(cell)
        for base in bases:
            for split_index in guarantee.SPLITS:
                runs = done.get((dataset, base, split_index), {})
                if all(name in runs for name in VARIANTS):
                    continue
                split, net = guarantee.split_and_network(cell, data, base, split_index)
                for name, settings in VARIANTS.items():
                    if name not in runs:
                        runs[name] = fit_variant(settings, net, split, cell.metric, base * 100 + split_index)
                runs = {name: {key: fit[key] for key in FIGURES} for name, fit in runs.items()}
                path = RUNS / f"guarantee_{dataset}_base{base}_split{split_index}.json"
                path.write_text(json.dumps(runs, indent=1))
                print(f"guarantee/{dataset} base {base} split {split_index}: "
                      + ", ".join(f"{name} Φ {runs[name]['phi']:.3f}" for name in VARIANTS), flush=True)


def stored_guarantee():
    """Every stored guarantee fit, one row per (dataset, base, split, variant): committed, then run files."""
    path = RESULTS / "ladder_guarantee.json"
    rows = {(r["dataset"], r["base"], r["split"], r["variant"]): r
            for r in (json.loads(path.read_text()) if path.exists() else [])}
    for run in sorted(RUNS.glob("guarantee_*.json")) if RUNS.exists() else []:
        _, dataset, base, split_index = run.stem.split("_")
        for name, fit in json.loads(run.read_text()).items():
            key = (dataset, int(base[4:]), int(split_index[5:]), name)
            rows[key] = {"dataset": key[0], "base": key[1], "split": key[2], "variant": name,
                         **{k: fit[k] for k in FIGURES}}
    return pd.DataFrame(list(rows.values()))


def stored():
    """Every stored (protocol, cell, seed): the committed results, then the run files."""
    return stored_variants("ladder", RUNS)


def frame():
    """One row per fit: its (protocol, cell, seed), variant and :data:`FIGURES`."""
    return variants_frame(stored(), FIGURES)


def report():
    data = frame()
    # Protocols and datasets in the order quality.py gives them.
    data["protocol"] = pd.Categorical(data.protocol, categories=PROTOCOLS, ordered=True)
    data["dataset"] = pd.Categorical(data.dataset, categories=list(VARIANT_SEEDS), ordered=True)
    data = data.sort_values(["protocol", "dataset", "cell", "seed"], kind="stable")
    lines = [
        "# Certification ladders: the default's test Φ by the rungs it tests (ε = 0.05)", "",
        CERTIFICATION_ONLY_NOTE, "",
        (f"Produced by `python benchmarks/ladder.py`. `{DEFAULT}` is the default. Each variant is fitted "
         "on the "
         "same split and base network; the gap is per (cell, seed), mean ± standard error, with the runs it "
         "wins and loses. *fair* is the share of runs fair on test, *constant* the share predicting one "
         "class, *certified* the share that report the tolerance met; the balanced accuracy is over the runs "
         f"fair on test. Confidence {CONFIDENCE:.0%}. *certified on* is where the fits certified: their "
         "safety rows, where the ladder is tested, or every row where the uniform band applies "
         "(docs/method.md §6), which tests no ladder, so that the variants coincide there."), "",
        ("| protocol | dataset | certified on | ladder | runs | mean Φ (fair, constant) | certified "
         "| balanced accuracy of fair runs | gap to the default (wins / losses) |"),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (protocol, dataset, route), rows in data.groupby(["protocol", "dataset", "rows"], observed=True):
        default = rows[rows.variant == DEFAULT].set_index(["cell", "seed"]).phi
        for name in VARIANTS:
            part = rows[rows.variant == name]
            lines.append(
                f"| {protocol} | {dataset} | {CERTIFIED_ON[route]} | {name} | {len(part)} "
                f"| {part.phi.mean():.3f} "
                f"({part.fair.mean():.0%}, "
                f"{part.constant.mean():.0%}) | {part.tolerance_met.mean():.0%} | "
                f"{part[part.fair].balanced_accuracy.mean():.3f} | "
                + ("" if name == DEFAULT else paired_gap(part, default)) + " |")
    checks = stored_guarantee()
    lines += guarantee_table(checks)
    if not checks.empty:
        checks.to_json(RESULTS / "ladder_guarantee.json", orient="records", indent=1)
    write_results("ladder", data, "\n".join(lines) + "\n")


def guarantee_table(data):
    """The confidence check of every ladder on guarantee.py's splits, as Markdown lines (none if no runs)."""
    if data.empty:
        return []
    delta = 1 - CONFIDENCE
    lines = [
        "", "## Does the confidence hold with each ladder?", "",
        (f"The splits and base networks of `guarantee.py` (Adult sex SPD, COMPAS race SPD; "
         f"{data.base.nunique()} bases × {data.split.nunique()} splits). *Claims but unfair*: fits that "
         "report the tolerance met while their test |bias| ≥ ε, with its Clopper–Pearson 95% interval; it "
         "must not exceed "
         f"δ = {delta:.2f} beyond it."), "",
        ("| dataset | certified on | ladder | fits | claims | claims but unfair (95% interval) | fair on test "
         "| constant | mean Φ | gap to the default |"),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, route), rows in data.groupby(["dataset", "rows"], sort=False):
        default = rows[rows.variant == DEFAULT].set_index(["base", "split"]).phi
        for name in VARIANTS:
            part = rows[rows.variant == name]
            broken = int((part.tolerance_met & ~part.fair).sum())
            interval = binomtest(broken, len(part)).proportion_ci(confidence_level=0.95, method="exact")
            lines.append(
                f"| {dataset} | {CERTIFIED_ON[route]} | {name} | {len(part)} | {part.tolerance_met.mean():.0%} "
                f"| {broken / len(part):.1%} ({interval.low:.1%}–{interval.high:.1%}) "
                f"| {part.fair.mean():.0%} | {part.constant.mean():.0%} "
                f"| {part.phi.mean():.3f} | "
                + ("" if name == DEFAULT else paired_gap(part, default, keys=("base", "split")))
                + " |")
    return lines


if __name__ == "__main__":
    collect_then_report(__doc__, collect, report,
                        protocols=dict(nargs="+", choices=PROTOCOLS, default=PROTOCOLS),
                        cells=dict(nargs="+", default=CELLS),
                        seeds=dict(type=int, nargs="+", default=None, help="default: 0-14 Adult, 0-9 others"),
                        bases=dict(type=int, nargs="*", default=list(guarantee.BASES),
                                   help="guarantee.py's bases to check the confidence on (none: skip)"))
