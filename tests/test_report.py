import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator

from skfairmask import FairMaskDebiaser
from skfairmask.report import FairnessReport


@pytest.fixture
def fitted(biased_data, base_net, fast):
    X, y, A = biased_data[1]
    return FairMaskDebiaser(FrozenEstimator(base_net), strategy="prune", **fast).fit(X, y, sensitive=A)


def test_group_table_matches_a_hand_count(fitted, biased_data):
    X, y, A = biased_data[2]
    report = FairnessReport(fitted, X, y, A)
    groups = report.groups()
    pred = fitted.predict(X)
    for code, name in ((0, "unprivileged (0)"), (1, "privileged (1)")):
        row = groups.loc[("debiased", name)]
        member = A == code
        assert row["count"] == member.sum() and row["positives"] == y[member].sum()
        assert row["selection_rate"] == pytest.approx(pred[member].mean())
        assert row["tpr"] == pytest.approx(pred[member & (y == 1)].mean())
        assert row["fpr"] == pytest.approx(pred[member & (y == 0)].mean())
        assert row["mean_proba"] == pytest.approx(fitted.predict_proba(X)[member, 1].mean())
        assert row["observed_rate"] == pytest.approx(y[member].mean())
    base = groups.loc[("base network", "privileged (1)")]
    assert base["selection_rate"] != groups.loc[("debiased", "privileged (1)")]["selection_rate"]


def test_measures_mask_and_outputs(fitted, biased_data, tmp_path):
    X, y, A = biased_data[2]
    report = FairnessReport(fitted, X, y, A)
    measures = report.measures()
    assert list(measures.index) == ["base network", "debiased"]
    assert abs(measures.loc["debiased", "spd"]) < abs(measures.loc["base network", "spd"])
    layers = report.mask_by_layer()
    assert list(layers.index) == list(fitted.mask_)
    total = layers["corrupted"].sum() / layers["weights"].sum()
    assert total == pytest.approx(fitted.pruning_rate_)
    units = report.mask_by_unit("0.weight")
    assert len(units) == fitted.mask_["0.weight"].shape[0]
    assert units.mean() == pytest.approx(layers.loc["0.weight", "corrupted_share"])
    assert "## Mask" in report.to_markdown()
    assert report.to_html().count("data:image/png;base64,") == 3
    assert {p.name for p in report.save(tmp_path)} >= {"report.md", "report.html", "metrics.json",
                                                        "group_rates.png", "mask_by_layer.png", "mask_history.png"}


def test_any_classifier_and_several_groups(biased_data):
    from sklearn.linear_model import LogisticRegression

    X, y, A = biased_data[2]
    region = np.arange(len(y)) % 3
    model = LogisticRegression().fit(X, y)
    report = FairnessReport(model, X, y, np.column_stack([A, region]))
    groups = report.groups()
    assert len(groups) == 6 and groups["count"].sum() == len(y)
    assert report.mask_by_layer().empty
    assert list(report.figures()) == ["group_rates"]


def test_pareto_plot_of_a_search(biased_data, base_net, fast):
    import sklearn
    from sklearn.model_selection import GridSearchCV

    from skfairmask import fairness_scoring, select_fair_best
    from skfairmask.report import plot_pareto

    X, y, A = biased_data[1]
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(FairMaskDebiaser(FrozenEstimator(base_net), **fast), {"strategy": ["none", "prune"]},
                              scoring=fairness_scoring("spd", epsilon=0.1), refit=select_fair_best(0.1), cv=2)
        search.fit(X, y, sensitive=A)
    ax = plot_pareto(search, epsilon=0.1)
    assert sum(len(c.get_offsets()) for c in ax.collections) >= 2
