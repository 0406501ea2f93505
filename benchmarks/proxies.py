"""The proxy audit on the bundled data: how much "predicts without the protected attribute" means.

On the test split of seed 0 of the DESIGN protocol, for each dataset and
attribute: whether the attribute is a column of X, how well the other
columns predict it (cross-validated AUC, ``skfairmask.proxies.proxy_audit``)
and which columns carry it most; and, with the column kept, the share of
predictions that flip when only it is switched, for the base network and for
the default debiaser. Run from the repository root::

    python benchmarks/proxies.py

Writes benchmarks/results/proxies.md and .json.
"""

import json
import warnings

import pandas as pd
from sklearn.frozen import FrozenEstimator

from skfairmask import FairMaskDebiaser
from skfairmask.datasets import protocol_split
from skfairmask.network import as_classifier
from skfairmask.proxies import proxy_audit

from _common import RESULTS, base_network, load

ATTRIBUTES = [("adult", "sex"), ("adult", "race"), ("compas", "race"), ("compas", "sex"), ("german", "age"),
              ("german", "sex")]


def audit(dataset, protected):
    X, y, A = load(dataset, protected)
    split = protocol_split(X, y, A, random_state=0)
    net = base_network(split, dataset, protected, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        deb = FairMaskDebiaser(FrozenEstimator(net), random_state=0).fit(*split.validation[:2],
                                                                         sensitive=split.validation[2])
    X_test = pd.DataFrame(split.test[0], columns=X.columns)
    # skorch reads a DataFrame as a dict of named inputs; the base network as a classifier reads its values.
    base = as_classifier(net, X_test.shape[1], classes=[0, 1])
    kept = proxy_audit(X_test, split.test[2], model=base)
    dropped = proxy_audit(X_test.drop(columns=[protected]), split.test[2])
    debiased = proxy_audit(X_test, split.test[2], model=deb)
    return {"attribute_columns": kept.attribute_columns, "auc_without_column": dropped.auc,
            "top_proxies": [name for name, _ in dropped.top_proxies[:3]], "flip_rate_base": kept.flip_rate,
            "flip_rate_debiased": debiased.flip_rate, "rows": len(X_test)}


def main():
    results = {f"{dataset}:{protected}": audit(dataset, protected) for dataset, protected in ATTRIBUTES}
    lines = ["# The proxy audit on the bundled data (test split of seed 0)", "",
             "Produced by `python benchmarks/proxies.py`. *Columns that are the attribute*: the columns of X whose "
             "values tell the groups apart exactly (AIF360's preparation keeps the attribute as a feature). "
             "*AUC without it*: how well the other columns predict the attribute, cross-validated (0.5 is no "
             "information). *Flip rate*: the share of test predictions that change when only the attribute's "
             "column is switched to the other group's value, for the base network and for the default debiaser.",
             "", "| dataset:attribute | rows | columns that are the attribute | AUC without it | strongest proxies "
             "| flip rate, base | flip rate, debiased |", "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['rows']} | {', '.join(r['attribute_columns']) or '–'} "
                     f"| {r['auc_without_column']:.2f} | {', '.join(r['top_proxies'])} | {r['flip_rate_base']:.1%} "
                     f"| {r['flip_rate_debiased']:.1%} |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "proxies.json").write_text(json.dumps(results, indent=1))
    (RESULTS / "proxies.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
