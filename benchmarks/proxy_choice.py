"""Which rows the unaware offset's final choice reads: the default against honest estimates of bias.

With the protected attribute's column dropped, the output offset's ``g``
(``skfairmask/strategies/_offset.py``) is a ridge read-out of each row's group
from its proxies, fitted on the training rows. It reads no label, so the
default's final choice orders its rules on the training and selection rows
together (``DebiasData.choice_rows``) and certifies on the safety rows, which
nothing has read. The rules' balanced accuracy on the training rows is then
an honest estimate, but their bias may not be: ``g`` was fitted to tell those
very rows' groups apart, so there the shift may close more of the groups' gap
than on new rows, and a rule that looks fair on the rows that chose it can
fail the safety test, which ends the fit's ladder. This script measures that
drift, and whether estimates without it choose better rules:

* ``training and selection rows (the default)``: the package's own choice;
* ``selection rows only``: the rules are estimated only on rows that ``g``
  has not seen (21% of the fit's rows, against 51%);
* ``cross-fitted g``: the training and selection rows are split into
  :data:`FOLDS` parts and each part is scored with a ``g`` fitted on the
  others, so that no row's estimate reads a ``g`` fitted on it; the model
  keeps the ``g`` of the training rows, as the default does.

Every variant certifies on the same safety rows, with the same ladder, so each
keeps the promise; only the order and choice of the rules change. A rule's
*drift* is its bias on the safety rows less its bias on the rows that chose
it (signed: the unprivileged group's rate less the privileged group's, and
the base networks here favour the privileged group, so a negative drift is
a gap closed on the rows that chose the rule and not on new rows); the table
gives its mean over each fit's ladder (every rung of
``FairnessObjective._sequence``, tested or not) and for the rule the fit
kept, which passed the safety test. Fitted on
``quality.py``'s cells and seeds with the attribute dropped, on the same
splits and base networks, so the gaps are paired by (cell, seed); each
(cell, seed) is stored as it finishes under benchmarks/cache/proxy_choice/::

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
from skfairmask import FairMaskDebiaser, selection
from skfairmask.strategies._offset import OutputOffset

from _common import (CACHE, RESULTS, collect_then_report, collect_variants, mean_std, paired_gap, run_figures,
                     stored_variants, variants_frame, write_results)
from quality import CELLS, EPSILON, SEEDS, figures_on_test
from quality import DEFAULT as QUALITY_DEFAULT  # its name here is the variant's

RUNS = CACHE / "proxy_choice"
PROTOCOL = "unaware"
DEFAULT = "training and selection rows (the default)"
VARIANTS = (DEFAULT, "selection rows only", "cross-fitted g")
#: The parts of the choice rows for ``cross-fitted g``.
FOLDS = 5
INTRO = ("Produced by `python benchmarks/proxy_choice.py`. The default fit, and the same fit with its "
         "rules ordered and chosen on other rows (see the script's docstring), all certified on the same "
         "safety rows, on the cells and seeds of `quality.py` with the protected attribute's column "
         "dropped, paired by (cell, seed): gap to the default, mean ± standard error (wins / losses). "
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
    if variant == DEFAULT:
        return rows, selection.network_scores(network, rows, family)
    part = np.random.default_rng(0).permutation(np.arange(len(rows)) % FOLDS)
    scores = np.empty((len(family.members), len(rows)))
    for fold in range(FOLDS):
        inside, outside = (torch.as_tensor(np.flatnonzero(test)) for test in (part == fold, part != fold))
        fitted = OutputOffset.fit(network, rows[outside], members=family.members)
        scores[:, inside.numpy()] = selection.network_scores(network, rows[inside], fitted)
    return rows, scores


def certified_choice(variant, record):
    """A stand-in for ``certify_results``: ``variant``'s choice rows, the default's ladder on the safety rows.

    It writes into ``record`` the kept rule's bias on its choice rows and on the safety rows, and the mean
    drift (safety less choice) over the ladder's rungs.
    """
    def certify_results(results, data, objective):
        (_, result), = results.items()
        if result.family is None or result.family.per_group:
            raise RuntimeError("proxy_choice.py measures the offset that reads proxies (protocol unaware).")
        rows, scores = choice_scores(variant, result, data)
        thresholds = objective.thresholds_for(scores)
        choice = objective.evaluate(rows.y.cpu().numpy(), scores, rows.sensitive.cpu().numpy(), thresholds,
                                    future_ratio=data.future_ratio(rows))
        safety, _ = selection.evaluate_network(result.network, data.safety, objective, family=result.family,
                                               thresholds=thresholds)
        certificate = objective.certify(choice, safety)
        rungs = objective._sequence(choice)
        record.update(choice_bias=float(choice.bias[certificate.index]), safety_bias=float(certificate.bias),
                      ladder_drift=float(np.mean(safety.bias[rungs] - choice.bias[rungs])))
        return selection._chosen(results, [thresholds], [len(choice)], certificate)
    return certify_results


def fit_variant(variant, net, split, metric, seed):
    """One default fit whose final choice reads ``variant``'s rows; its test figures."""
    debiaser = FairMaskDebiaser(FrozenEstimator(net), bias_metric=metric, epsilon=EPSILON, random_state=seed)
    record = {}
    with (mock.patch.object(skfairmask._debiaser, "certify_results", certified_choice(variant, record)),
          warnings.catch_warnings()):
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
    lines = ["# Which rows the unaware offset's final choice reads (attribute dropped, ε = 0.05)", "", INTRO,
             "", same_as_quality(data[data.variant == DEFAULT]), ""]
    header = [("| {} | variant | runs | mean test Φ (fair, constant) | certified | balanced accuracy of the "
               "fair runs | drift, every rung | drift, kept rule | gap to the default |"),
              "|---|---|---|---|---|---|---|---|---|"]
    for level, heading in (("dataset", "Per dataset"), ("cell", "Per Adult cell")):
        table = data if level == "dataset" else data[data.dataset == "adult"]
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
    quality = default.apply(lambda run: stored[f"{PROTOCOL}/{run.cell}|{run.seed}|{QUALITY_DEFAULT}"]["phi"],
                            axis=1)
    same = int(np.isclose(default.phi, quality, rtol=0, atol=1e-9).sum())
    return f"The default's test Φ here is `quality.md`'s (unaware) in {same} of {len(default)} runs."


if __name__ == "__main__":
    collect_then_report(__doc__, collect, report, cells={"nargs": "+", "default": CELLS})
