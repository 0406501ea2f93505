"""How the unaware offset's final choice is made: which rows it reads, and the hedge against their drift.

With the protected attribute's column dropped, the output offset's ``g``
(``skfairmask/strategies/_offset.py``) is a ridge read-out of each row's group
from its proxies, fitted on the training rows. It reads no label, so the
default's final choice orders its rules on the training and selection rows
together (``DebiasData.choice_rows``) and certifies on the safety rows, which
nothing has read. The rules' balanced accuracy on the training rows is then
an honest estimate, but their bias may not be: ``g`` was fitted to tell those
very rows' groups apart, so there the shift may close more of the groups' gap
than on new rows; and the most accurate rules that look fair are, more often
than not, those whose estimates erred toward fairness. The rules at the top
of the ladder then share one error on the safety rows, fail together, and
end the fit on a rung far below them. So the default hedges
(``FairnessObjective.certify_hedged``): two ladders, each tested at half the
error δ, one ordered on the estimates as read and one on the estimates moved
one standard error toward the network's bias. This script measures that
drift, the hedge, and whether estimates read on other rows choose better:

* ``training and selection rows, hedged (the default)``: the package's own choice;
* ``one ladder at the whole error``: the same rows, the single ladder of
  ``FairnessObjective.certify`` at δ (the default before the hedge);
* ``hedged at two standard errors``: the second ladder's estimates moved twice
  as far (``HEDGE_STANDARD_ERRORS`` = 2);
* ``selection rows only``: the rules are estimated only on rows that ``g``
  has not seen (21% of the fit's rows, against 51%), hedged;
* ``cross-fitted g``: the training and selection rows are split into
  :data:`FOLDS` parts and each part is scored with a ``g`` fitted on the
  others, so that no row's estimate reads a ``g`` fitted on it; the model
  keeps the ``g`` of the training rows, as the default does; hedged.

Every variant certifies on the same safety rows, so each keeps the promise;
only the order and choice of the rules, and the error each ladder is tested
at, change. A rule's *drift* is its bias on the safety rows less its bias on
the rows that chose it (signed: the unprivileged group's rate less the
privileged group's, and the base networks here favour the privileged group,
so a negative drift is a gap closed on the rows that chose the rule and not
on new rows); the table gives its mean over each fit's ladder (every rung of
``FairnessObjective._sequence`` on the estimates as read, tested or not) and
for the rule the fit kept. Fitted on ``quality.py``'s cells with the
attribute dropped, on the same splits and base networks, so the gaps are
paired by (cell, seed), at :data:`SEEDS` (more Adult seeds than
``quality.py``'s ten, since the paired gaps there are small); each (cell,
seed) is stored as it finishes under benchmarks/cache/proxy_choice/::

    python benchmarks/proxy_choice.py
    python benchmarks/proxy_choice.py --report

Writes benchmarks/results/proxy_choice.md and .json.
"""

import json
import warnings
from functools import partial
from unittest import mock

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator

import skfairmask._debiaser
from skfairmask import FairMaskDebiaser, objective, selection
from skfairmask.strategies._offset import OutputOffset

from _common import (CACHE, CERTIFICATION_ONLY, CERTIFICATION_ONLY_NOTE, RESULTS, collect_then_report, collect_variants,
                     mean_std, paired_gap, run_figures, stored_variants, variants_frame, write_results)
from quality import CELLS, EPSILON, figures_on_test
from quality import DEFAULT as QUALITY_DEFAULT  # its name here is the variant's

RUNS = CACHE / "proxy_choice"
PROTOCOL = "unaware"
#: Each dataset's seeds: quality.py's, and on Adult 25 more.
SEEDS = {"adult": range(35), "compas": range(10), "german": range(10)}
DEFAULT = "training and selection rows, hedged (the default)"
ONE_LADDER = "one ladder at the whole error"
TWO_ERRORS = "hedged at two standard errors"
VARIANTS = (DEFAULT, ONE_LADDER, TWO_ERRORS, "selection rows only", "cross-fitted g")
#: The parts of the choice rows for ``cross-fitted g``.
FOLDS = 5
INTRO = ("Produced by `python benchmarks/proxy_choice.py`. The default fit, and the same fit with its "
         "rules ordered, chosen and tested otherwise (see the script's docstring), all certified on the same "
         "safety rows, on the cells of `quality.py` with the protected attribute's column dropped (seeds "
         "0–9, and 0–34 on Adult), paired by (cell, seed): gap to the default, mean ± standard error "
         "(wins / losses). "
         "*fair* is the share of runs fair on test, *constant* the share predicting one class for every "
         "test row, *certified* the share whose fit claimed the tolerance. A rule's *drift* is its bias on "
         "the safety rows less its bias on the rows that chose it (negative: a gap closed on those rows and "
         "not on new ones), averaged over each fit's ladder (*every rung*) or for the rule kept, which "
         "passed the safety test (*kept rule*): mean ± standard deviation over fits.")
FIGURES = ("phi", "balanced_accuracy", "fair", "constant", "tolerance_met", "choice_bias", "safety_bias",
           "ladder_drift")


def choice_scores(variant, result, data):
    """The choice rows of ``variant`` and every family member's probabilities on them, (members, rows)."""
    network, family = result.network, result.family
    if variant == "selection rows only":
        return data.selection, selection.network_scores(network, data.selection, family)
    rows = data.choice_rows(result.fitted_to_train)
    if variant != "cross-fitted g":
        return rows, selection.network_scores(network, rows, family)
    part = np.random.default_rng(0).permutation(np.arange(len(rows)) % FOLDS)
    scores = np.empty((len(family.members), len(rows)))
    for fold in range(FOLDS):
        inside, outside = (torch.as_tensor(np.flatnonzero(test)) for test in (part == fold, part != fold))
        fitted = OutputOffset.fit(network, rows[outside], members=family.members)
        scores[:, inside.numpy()] = selection.network_scores(network, rows[inside], fitted)
    return rows, scores


def certified_choice(variant, record):
    """A stand-in for ``certify_results``: ``variant``'s choice rows and ladders, tested on the safety rows.

    It writes into ``record`` the kept rule's bias on its choice rows and on the safety rows, and the mean
    drift (safety less choice) over the rungs of the ladder on the estimates as read.
    """
    def certify_results(results, data, fit_objective):
        (_, result), = results.items()
        if result.family is None or result.family.per_group:
            raise RuntimeError("proxy_choice.py measures the offset that reads proxies (protocol unaware).")
        hedged = variant != ONE_LADDER
        judge = fit_objective.halved() if hedged else fit_objective
        rows, scores = choice_scores(variant, result, data)
        ratio = data.future_ratio(rows)
        thresholds = judge.thresholds_for(scores)
        choice = judge.evaluate(rows.y.cpu().numpy(), scores, rows.sensitive.cpu().numpy(), thresholds,
                                future_ratio=ratio)
        safety, _ = selection.evaluate_network(result.network, data.safety, judge, family=result.family,
                                               thresholds=thresholds)
        certificate = (judge.certify_hedged(choice, judge.leaning(choice, ratio), safety) if hedged
                       else judge.certify(choice, safety))
        rungs = judge._sequence(choice)
        record.update(choice_bias=float(choice.bias[certificate.index]), safety_bias=float(certificate.bias),
                      ladder_drift=float(np.mean(safety.bias[rungs] - choice.bias[rungs])))
        return selection._chosen(results, [thresholds], [len(choice)], certificate)
    return certify_results


def fit_variant(variant, net, split, metric, seed):
    """One default fit whose final choice is ``variant``'s; its test figures."""
    debiaser = FairMaskDebiaser(FrozenEstimator(net), bias_metric=metric, epsilon=EPSILON, random_state=seed,
                                **CERTIFICATION_ONLY)
    record = {}
    standard_errors = 2.0 if variant == TWO_ERRORS else objective.HEDGE_STANDARD_ERRORS
    with (mock.patch.object(skfairmask._debiaser, "certify_results", certified_choice(variant, record)),
          mock.patch.object(objective, "HEDGE_STANDARD_ERRORS", standard_errors), warnings.catch_warnings()):
        warnings.simplefilter("ignore")
        debiaser.fit(*split.validation[:2], sensitive=split.validation[2])
    figures = figures_on_test(debiaser.predict(split.test[0]), split, metric)
    return {**figures, **record, "fair": bool(abs(figures[metric]) < EPSILON),
            "tolerance_met": bool(debiaser.tolerance_met_)}


def collect(cells):
    """Fit every variant on every missing (cell, seed), saving each as it finishes."""
    collect_variants(RUNS, stored_variants("proxy_choice", RUNS), PROTOCOL, cells, SEEDS,
                     {variant: partial(fit_variant, variant) for variant in VARIANTS})


def report():
    data = variants_frame(stored_variants("proxy_choice", RUNS), FIGURES)
    data["drift"] = data.safety_bias - data.choice_bias
    lines = ["# How the unaware offset's final choice is made (attribute dropped, ε = 0.05)", "",
             CERTIFICATION_ONLY_NOTE, "", INTRO,
             "", same_as_quality(data[data.variant == DEFAULT]), ""]
    header = [("| {} | variant | runs | mean test Φ (fair, constant) | certified | balanced accuracy of the "
               "fair runs | drift, every rung | drift, kept rule | gap to the default |"),
              "|---|---|---|---|---|---|---|---|---|"]
    adult = data[data.dataset == "adult"]
    for level, heading, table in (("dataset", "Per dataset", data),
                                  ("dataset", "Adult on `quality.py`'s seeds (0–9)", adult[adult.seed < 10]),
                                  ("dataset", "Adult on the other seeds (10–34)", adult[adult.seed >= 10]),
                                  ("cell", "Per Adult cell", adult)):
        lines += [f"## {heading}", "", header[0].format(level), header[1]]
        for key, rows in table.groupby(level, sort=False):
            default = rows[rows.variant == DEFAULT].set_index(["cell", "seed"]).phi
            for variant in VARIANTS:
                part = rows[rows.variant == variant]
                paired = "" if variant == DEFAULT else paired_gap(part, default)
                lines.append(f"| {key} | {variant} | {run_figures(part)} | {mean_std(part.ladder_drift)} "
                             f"| {mean_std(part.drift)} | {paired} |")
        lines.append("")
    write_results("proxy_choice", data, "\n".join(lines))


def same_as_quality(default):
    """A line saying in how many runs the default here gave the Φ of ``quality.json``'s default, unaware."""
    stored = json.loads((RESULTS / "quality.json").read_text())
    keys = (default.cell.map(lambda cell: f"{PROTOCOL}/{cell}|") + default.seed.astype(str)
            + f"|{QUALITY_DEFAULT}")
    default = default[keys.isin(list(stored)).to_numpy()]
    quality = np.array([stored[key]["phi"] for key in keys if key in stored])
    same = int(np.isclose(default.phi, quality, rtol=0, atol=1e-9).sum())
    return f"The default's test Φ here is `quality.md`'s (unaware) in {same} of its {len(default)} runs."


if __name__ == "__main__":
    collect_then_report(__doc__, collect, report, cells={"nargs": "+", "default": CELLS})
