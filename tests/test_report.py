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


def test_the_verdict_states_fairness_and_accuracy_with_their_intervals(fitted, biased_data):
    X, y, A = biased_data[2]
    report = FairnessReport(fitted, X, y, A)
    verdict = report.verdict()
    low, high = verdict.bias_interval
    assert low <= verdict.bias <= high and verdict.abs_bias_bound >= abs(verdict.bias)
    assert verdict.fair == (verdict.abs_bias_bound < fitted.epsilon)
    assert verdict.ba_interval[0] <= verdict.balanced_accuracy <= verdict.ba_interval[1]
    assert f"ε = {fitted.epsilon}" in verdict.sentence() and f"{fitted.confidence:.0%} confidence" in verdict.sentence()
    groups = report.groups()
    assert (groups.selection_rate_low <= groups.selection_rate).all()
    assert (groups.selection_rate <= groups.selection_rate_high).all()
    markdown = report.to_markdown()
    assert markdown.index("## Verdict") < markdown.index("## Per group") < markdown.index("## Mask")
    assert ("PASS." if verdict.passed else "FAIL.") in markdown
    assert ("The fit did not certify this model" in markdown) == (not fitted.tolerance_met_)
    details = report.details()
    assert details["strategy"] == "prune" and details["rows"] == len(y)


def test_the_report_says_when_the_fit_did_not_certify_its_model(biased_data, base_net, fast):
    # No rule that predicts both classes can be certified at this tolerance on some 400 safety rows.
    X, y, A = biased_data[1]
    uncertified = FairMaskDebiaser(FrozenEstimator(base_net), strategy="none", epsilon=0.005, **fast)
    with pytest.warns(UserWarning, match="tolerance_met_ is False"):
        uncertified.fit(X, y, sensitive=A)
    report = FairnessReport(uncertified, *biased_data[2])
    markdown, page = report.to_markdown(), report.to_html()
    # The held-out verdict may pass where the fit did not certify (a nearly constant model can, narrowly):
    # the verdict section then says both.
    said = "The fit did not certify this model: the only model certified fair on the "
    assert said in markdown and said in page
    assert report.details()["certified at fit"].startswith("no: the only model certified fair on the ")
    assert page.count('class="verdict') == 1, "only the held-out verdict is styled as one"


def test_a_constant_model_is_never_a_passing_verdict(biased_data):
    from sklearn.dummy import DummyClassifier

    X, y, A = biased_data[2]
    constant = DummyClassifier(strategy="constant", constant=1).fit(X, y)
    verdict = FairnessReport(constant, X, y, A).verdict()
    assert verdict.constant and verdict.fair and not verdict.passed
    assert "same class for everyone" in verdict.sentence()


def test_the_proxy_audit_finds_the_attribute_column_and_its_proxies(fitted, biased_data):
    X, y, A = biased_data[2]
    proxies = FairnessReport(fitted, X, y, A).proxies()
    assert proxies.attribute_columns == [f"x{X.shape[1] - 1}"]  # the synthetic data's last column is A
    assert 0.5 < proxies.auc < 1.0, "column 0 is a proxy (shifted by the group)"
    assert proxies.top_proxies[0][0] == "x0"
    assert 0 <= proxies.flip_rate <= 1
    # Flipping the column by hand changes exactly that share of predictions.
    flipped = X.copy()
    flipped[:, -1] = 1 - flipped[:, -1]
    assert proxies.flip_rate == pytest.approx(np.mean(fitted.predict(X) != fitted.predict(flipped)))


def test_metrics_json_carries_the_verdict(fitted, biased_data, tmp_path):
    import json

    FairnessReport(fitted, *biased_data[2]).save(tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"passed", "fair", "better_than_constant", "abs_bias_bound", "confidence"} <= set(metrics["verdict"])
    assert metrics["proxies"]["attribute_columns"]
