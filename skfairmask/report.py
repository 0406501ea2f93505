"""Summaries of a model's fairness on held-out data: tables, plots, Markdown and HTML."""

import base64
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score

from ._debiaser import FairMaskDebiaser
from ._plots import plot_group_rates, plot_mask_by_layer, plot_mask_history, plot_pareto
from ._validation import check_sensitive
from .metrics import (
    average_odds_difference,
    group_index,
    equal_opportunity_difference,
    statistical_parity_difference,
)
from .objective import phi_score

__all__ = [
    "FairnessReport",
    "ThresholdClassifier",
    "fairness_summary",
    "plot_group_rates",
    "plot_mask_by_layer",
    "plot_mask_history",
    "plot_pareto",
    "summary_table",
]


def fairness_summary(y_true, y_pred, sensitive, *, bias_metric="spd", epsilon=0.05):
    """Balanced accuracy, the three bias measures and Φ of one set of predictions.

    Parameters
    ----------
    y_true, y_pred, sensitive : array-like of shape (n,)
        Labels, predictions and protected attribute, coded 0/1.
    bias_metric : {"spd", "eod", "aod"}, default="spd"
        The measure Φ holds to ``epsilon``.
    epsilon : float, default=0.05

    Returns
    -------
    dict
        ``balanced_accuracy``, ``spd``, ``eod``, ``aod`` and ``phi``.
    """
    y_true, y_pred, sensitive = (np.asarray(a) for a in (y_true, y_pred, sensitive))
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "spd": statistical_parity_difference(y_true, y_pred, sensitive=sensitive),
        "eod": equal_opportunity_difference(y_true, y_pred, sensitive=sensitive),
        "aod": average_odds_difference(y_true, y_pred, sensitive=sensitive),
        "phi": phi_score(y_true, y_pred, sensitive=sensitive, bias_metric=bias_metric, epsilon=epsilon),
    }


def summary_table(rows):
    """A table with one row per model, from ``{model name: summary dict}``.

    Parameters
    ----------
    rows : dict of str to dict
        Each value as returned by :func:`fairness_summary`, possibly with more
        entries (a pruning rate, a time).

    Returns
    -------
    pandas.DataFrame
    """
    return pd.DataFrame.from_dict(rows, orient="index")


class FairnessReport:
    """A model's fairness on held-out data: per group, overall, and, for a debiaser, its mask.

    Parameters
    ----------
    estimator : classifier
        Anything with ``predict`` (and, for calibration, ``predict_proba``);
        a fitted :class:`~skfairmask.FairMaskDebiaser` adds its mask, its
        history and a comparison with the network it was given.
    X : array-like of shape (n, d)
        Held-out rows, not the ones the model was fitted or tuned on.
    y : array-like of shape (n,)
        Two classes; the greater one is favourable.
    sensitive : array-like of shape (n,) or (n, k)
        The protected attribute, coded as :class:`FairMaskDebiaser` takes it.
    bias_metric : {"spd", "eod", "aod"}, optional
        The measure Φ holds to ``epsilon``; the debiaser's by default, else ``"spd"``.
    epsilon : float, optional
        The debiaser's by default, else 0.05.
    baseline : classifier, optional
        The model to compare with; for a debiaser, the network it was given
        (at threshold 0.5) by default.
    priv_group : scalar, default=1
        The privileged value of ``sensitive`` when it holds two groups.

    Examples
    --------
    >>> report = FairnessReport(debiaser, X_test, y_test, A_test)  # doctest: +SKIP
    >>> report.measures()                                          # doctest: +SKIP
    >>> report.save("report/")                                     # doctest: +SKIP
    """

    def __init__(self, estimator, X, y, sensitive, *, bias_metric=None, epsilon=None, baseline=None,
                 priv_group=1):
        self.estimator = estimator
        debiaser = isinstance(estimator, FairMaskDebiaser)
        self.bias_metric = bias_metric or (estimator.bias_metric if debiaser else "spd")
        self.epsilon = epsilon or (estimator.epsilon if debiaser else 0.05)
        y = np.asarray(y)
        if len(np.unique(y)) > 2:
            raise ValueError("FairnessReport covers binary classification; y holds "
                             f"{len(np.unique(y))} classes. Measure a multi-class model with "
                             "skfairmask.metrics.multiclass_gap and phi_score.")
        self._favourable = np.unique(y)[-1]
        self._y = (y == self._favourable).astype(float)
        self._sensitive = check_sensitive(sensitive, n_samples=len(y), priv_group=priv_group)
        self._group_names = _group_names(sensitive, self._sensitive, priv_group)
        models = {"model": estimator}
        baseline = baseline if baseline is not None else _base_network_of(estimator)
        if baseline is not None:
            models = {"base network": baseline, "debiased": estimator}
        self._outputs = {name: _outputs(model, X, self._favourable) for name, model in models.items()}

    def groups(self):
        """Per model and group: counts, selection rate, TPR, FPR, balanced accuracy and calibration.

        Returns
        -------
        pandas.DataFrame
            Indexed by (model, group). ``mean_proba`` against ``observed_rate``
            is the calibration: the mean predicted probability of the
            favourable label, and how often it really is favourable.
        """
        rows = {}
        index = group_index(self._sensitive).astype(int)
        for name, (pred, proba) in self._outputs.items():
            for code, group in enumerate(self._group_names):
                member = index == code
                y, p = self._y[member], pred[member]
                tpr = p[y == 1].mean() if (y == 1).any() else np.nan
                fpr = p[y == 0].mean() if (y == 0).any() else np.nan
                rows[(name, group)] = {
                    "count": int(member.sum()),
                    "positives": int(y.sum()),
                    "selection_rate": p.mean(),
                    "tpr": tpr,
                    "fpr": fpr,
                    "balanced_accuracy": np.nanmean([tpr, 1 - fpr]),
                    "mean_proba": proba[member].mean() if proba is not None else np.nan,
                    "observed_rate": y.mean(),
                }
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis(["model", "group"])

    def measures(self):
        """Per model: balanced accuracy, SPD, EOD, AOD and Φ (at ``bias_metric`` and ``epsilon``).

        Returns
        -------
        pandas.DataFrame
        """
        return pd.DataFrame.from_dict({
            name: fairness_summary(self._y, pred, self._sensitive, bias_metric=self.bias_metric,
                                   epsilon=self.epsilon)
            for name, (pred, _) in self._outputs.items()
        }, orient="index").rename_axis("model")

    def mask_by_layer(self):
        """Per weight tensor of a debiaser: its size, and the share the mask marks as corrupted.

        Returns
        -------
        pandas.DataFrame
            Empty when the estimator has no mask. ``units_corrupted`` counts the
            rows (output units or filters) whose weights are all corrupted.
        """
        masks = getattr(self.estimator, "mask_", None) or {}
        rows = {
            name: {
                "weights": mask.numel(),
                "corrupted": int((~mask).sum()),
                "corrupted_share": float((~mask).float().mean()),
                "units": mask.shape[0],
                "units_corrupted": int((~mask).flatten(1).all(dim=1).sum()),
            }
            for name, mask in masks.items()
        }
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("tensor")

    def mask_by_unit(self, tensor):
        """The corrupted share of each unit (row or filter) of one weight tensor.

        Parameters
        ----------
        tensor : str
            A name of ``estimator.mask_``.

        Returns
        -------
        pandas.Series
        """
        mask = self.estimator.mask_[tensor]
        return pd.Series((~mask).flatten(1).float().mean(dim=1).numpy(), name=tensor).rename_axis("unit")

    def to_frame(self):
        """The per-group table, :meth:`groups`."""
        return self.groups()

    def figures(self):
        """The report's plots, name → matplotlib Figure.

        Returns
        -------
        dict
            ``group_rates`` always; ``mask_by_layer`` and ``mask_history`` for
            a debiaser that found a mask.
        """
        import matplotlib.pyplot as plt

        figures = {}
        figure, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
        plot_group_rates(self.groups(), ax=ax)
        figures["group_rates"] = figure
        layers = self.mask_by_layer()
        if not layers.empty and layers["corrupted"].sum() > 0:
            figure, ax = plt.subplots(figsize=(6, 0.3 * len(layers) + 1.2), layout="constrained")
            plot_mask_by_layer(layers, ax=ax)
            figures["mask_by_layer"] = figure
        history = getattr(self.estimator, "history_", {}).get("mask_discovery")
        if history:
            figure, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
            plot_mask_history(history, ax=ax)
            figures["mask_history"] = figure
        return figures

    def to_markdown(self):
        """The report as Markdown text (tables only)."""
        parts = ["# Fairness report", "", f"Bias measure for Φ: {self.bias_metric.upper()}, ε = {self.epsilon}.",
                 "", "## Overall", "", self.measures().round(3).to_markdown(), "",
                 "## Per group", "", self.groups().round(3).to_markdown(), ""]
        layers = self.mask_by_layer()
        if not layers.empty:
            parts += ["## Mask: share of weights marked corrupted, per tensor", "",
                      layers.round(3).to_markdown(), ""]
        return "\n".join(parts)

    def to_html(self):
        """The report as one self-contained HTML page, with its plots embedded."""
        import matplotlib.pyplot as plt

        images = []
        for name, figure in self.figures().items():
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=110)
            plt.close(figure)
            data = base64.b64encode(buffer.getvalue()).decode()
            images.append(f'<figure><img alt="{name}" src="data:image/png;base64,{data}"></figure>')
        layers = self.mask_by_layer()
        mask = "" if layers.empty else "<h2>Mask per tensor</h2>" + layers.round(3).to_html()
        return _HTML.format(
            metric=self.bias_metric.upper(), epsilon=self.epsilon,
            measures=self.measures().round(3).to_html(), groups=self.groups().round(3).to_html(),
            mask=mask, images="\n".join(images),
        )

    def save(self, directory):
        """Write ``report.md``, ``report.html``, ``metrics.json`` and one PNG per plot to ``directory``.

        Parameters
        ----------
        directory : str or path-like
            Created if missing.

        Returns
        -------
        list of pathlib.Path
            The files written.
        """
        import matplotlib.pyplot as plt

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, figure in self.figures().items():
            path = directory / f"{name}.png"
            figure.savefig(path, dpi=110)
            plt.close(figure)
            written.append(path)
        metrics = {
            "bias_metric": self.bias_metric, "epsilon": self.epsilon,
            "measures": json.loads(self.measures().to_json(orient="index")),
            "groups": json.loads(self.groups().reset_index().to_json(orient="records")),
        }
        for name, text in (("report.md", self.to_markdown()), ("report.html", self.to_html()),
                           ("metrics.json", json.dumps(metrics, indent=1))):
            (directory / name).write_text(text)
            written.append(directory / name)
        return written


_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Fairness report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 64em; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
figure {{ display: inline-block; margin: 0.5em; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>Fairness report</h1>
<p>Bias measure for &Phi;: {metric}, &epsilon; = {epsilon}. Figures are for the rows the report was given;
use held-out rows.</p>
<h2>Overall</h2>
{measures}
<h2>Per group</h2>
{groups}
{mask}
<h2>Plots</h2>
{images}
</body></html>
"""


def _group_names(raw, coded, priv_group):
    """Readable group names, in the order of the coded groups."""
    if coded.ndim == 1:
        raw = np.asarray(raw)
        others = [v for v in pd.unique(raw) if v != priv_group]
        return [f"unprivileged ({others[0]})", f"privileged ({priv_group})"]
    raw = np.asarray(raw)
    rows = raw if raw.ndim == 2 else raw[:, None]
    index = group_index(coded).astype(int)
    names = {}
    for code, row in zip(index, rows):
        names.setdefault(code, "/".join(str(v) for v in row))
    return [names[code] for code in range(coded.shape[1])]


def _outputs(model, X, favourable):
    """0/1 predictions of the favourable label, and its probabilities if the model gives them."""
    pred = (np.asarray(model.predict(X)) == favourable).astype(float)
    proba = None
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(X))
        proba = proba[:, -1] if proba.ndim == 2 else proba
    return pred, proba


def _base_network_of(estimator):
    """For a fitted debiaser, its pre-trained network as a classifier at threshold 0.5."""
    network = getattr(estimator, "estimator", None)
    if network is None or not hasattr(estimator, "net_"):
        return None
    from .network import resolve_network, to_skorch

    resolved = resolve_network(network, estimator.input_shape_, getattr(estimator, "device", "cpu"))
    return ThresholdClassifier(to_skorch(resolved), estimator.classes_)


class ThresholdClassifier:
    """A skorch binary net as a classifier with given class labels and threshold.

    Parameters
    ----------
    net : skorch.NeuralNetBinaryClassifier
    classes : array-like of shape (2,)
        Labels for the unfavourable and the favourable class.
    threshold : float, default=0.5
    """

    def __init__(self, net, classes, threshold=0.5):
        self.net, self.classes, self.threshold = net, np.asarray(classes), threshold

    def predict_proba(self, X):
        """Probabilities of the two classes."""
        return self.net.predict_proba(np.asarray(X, dtype=np.float32))

    def predict(self, X):
        """Class labels: favourable where its probability exceeds the threshold."""
        return self.classes[(self.predict_proba(X)[:, 1] > self.threshold).astype(int)]
