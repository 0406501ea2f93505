"""A fairness report a reviewer can sign: a verdict with confidence, the figures behind it, proxies, a model card.

:class:`FairnessReport` measures a classifier on held-out rows. It opens with
a verdict in plain words (is the model fair at ε with the stated confidence,
and better than a constant prediction), then gives the bias and balanced
accuracy with their intervals, per-group rates with exact intervals, where the
model and data came from, how much the data's columns carry the protected
attribute, a model-card section, a glossary, and, for a debiaser, its mask.
"""

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score

from ._debiaser import FairMaskDebiaser
from ._plots import plot_group_rates, plot_mask_by_layer, plot_mask_history, plot_pareto
from ._validation import check_sensitive
from .audit import audit_predictions, group_rates
from .metrics import BIAS_METRICS, bias_gap, coded_arrays, group_index
from .network import as_classifier
from .objective import DEFAULT_CONFIDENCE, phi_score
from .proxies import proxy_audit

__all__ = ["FairnessReport", "GLOSSARY", "fairness_summary", "plot_group_rates", "plot_mask_by_layer",
           "plot_mask_history", "plot_pareto", "summary_table"]


def fairness_summary(y_true, y_pred, sensitive, *, bias_metric="spd", epsilon=0.05):
    """Balanced accuracy, every bias measure and Φ of one set of predictions.

    Parameters
    ----------
    y_true, y_pred, sensitive : array-like of shape (n,)
        Labels, predictions and protected attribute, coded 0/1.
    bias_metric : str, default="spd"
        The measure Φ holds to ``epsilon``.
    epsilon : float, default=0.05

    Returns
    -------
    dict
        ``balanced_accuracy``, one entry per measure of
        :data:`~skfairmask.metrics.BIAS_METRICS`, and ``phi``.
    """
    y_true, y_pred, coded = coded_arrays(y_true, y_pred, sensitive)
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        **{name: float(bias_gap(y_true, y_pred, coded, name)) for name in BIAS_METRICS},
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


#: What the report's terms mean, and which way their signs point.
GLOSSARY = {
    **{m.display_name.capitalize() + f" ({m.name.upper()})": f"{m.definition}." for m in BIAS_METRICS.values()},
    "Sign": "Every gap is the unprivileged group's rate minus the privileged group's, as AIF360 computes it: "
            "a negative value means the unprivileged group is favoured less.",
    "TPR, FPR": "Among the truly favourable (TPR), or the truly unfavourable (FPR), the share predicted favourable.",
    "Balanced accuracy": "The mean of TPR and 1 − FPR; 0.5 is what predicting one class for everyone scores.",
    "Φ": "Balanced accuracy if |bias| < ε, else 0.",
    "Interval": "A range that holds the population's value with the stated confidence: exact (Clopper–Pearson) "
                "intervals for each rate, combined by the MOVER rule for gaps and balanced accuracy.",
    "Fair at ε": "The upper end of the |bias| interval is under ε: with the stated confidence, the bias on the "
                 "population these rows come from is within the tolerance.",
}

_GROUP_COLUMNS = {"count": "Rows", "positives": "Favourable labels", "selection_rate": "Selection rate",
                  "tpr": "TPR", "fpr": "FPR", "balanced_accuracy": "Balanced accuracy",
                  "mean_proba": "Mean predicted probability", "observed_rate": "Observed favourable rate"}


class FairnessReport:
    """A model's fairness on held-out rows, with a verdict at a confidence.

    Parameters
    ----------
    estimator : classifier
        Anything with ``predict`` (and, for calibration, ``predict_proba``);
        a fitted :class:`~skfairmask.FairMaskDebiaser` adds its threshold,
        strategy, mask, certificate and a comparison with the network it was given.
    X : array-like of shape (n, d)
        Held-out rows, not the ones the model was fitted or tuned on.
    y : array-like of shape (n,)
        Two classes; the greater one is favourable.
    sensitive : array-like of shape (n,) or (n, k)
        The protected attribute, coded as :class:`FairMaskDebiaser` takes it.
    bias_metric : str, optional
        The measure of the verdict; the debiaser's by default, else ``"spd"``.
    epsilon : float, optional
        The debiaser's by default, else 0.05.
    confidence : float, optional
        The debiaser's by default, else 0.80 (DEFAULT_CONFIDENCE).
    baseline : classifier, optional
        The model to compare with; for a debiaser, the network it was given
        (at threshold 0.5) by default.
    priv_group : scalar, default=1
        The privileged value of ``sensitive`` when it holds two groups.
    model_file, data_file : str, optional
        Where the model and the rows came from, for the provenance section.

    Examples
    --------
    >>> report = FairnessReport(debiaser, X_test, y_test, A_test)  # doctest: +SKIP
    >>> print(report.verdict().sentence())                         # doctest: +SKIP
    >>> report.save("report/")                                     # doctest: +SKIP
    """

    def __init__(self, estimator, X, y, sensitive, *, bias_metric=None, epsilon=None, confidence=None,
                 baseline=None, priv_group=1, model_file=None, data_file=None):
        self.estimator = estimator
        debiaser = isinstance(estimator, FairMaskDebiaser)
        self.bias_metric = bias_metric or (estimator.bias_metric if debiaser else "spd")
        self.epsilon = epsilon or (estimator.epsilon if debiaser else 0.05)
        self.confidence = confidence or (estimator.confidence if debiaser else DEFAULT_CONFIDENCE)
        self.model_file, self.data_file = model_file, data_file
        y = np.asarray(y)
        if len(np.unique(y)) > 2:
            raise ValueError("FairnessReport covers binary classification; y holds "
                             f"{len(np.unique(y))} classes. Measure a multi-class model with "
                             "skfairmask.metrics.multiclass_gap and phi_score.")
        self._X = X
        self._favourable = np.unique(y)[-1]
        self._y = (y == self._favourable).astype(float)
        self._raw_sensitive = np.asarray(sensitive)
        self._sensitive = check_sensitive(sensitive, n_samples=len(y), priv_group=priv_group)
        self._group_names = _group_names(sensitive, self._sensitive, priv_group)
        models = {"model": estimator}
        baseline = baseline if baseline is not None else _base_network_of(estimator)
        if baseline is not None:
            models = {"base network": baseline, "debiased": estimator}
        self._outputs = {name: _outputs(model, X, self._favourable) for name, model in models.items()}

    @property
    def _model_name(self):
        return list(self._outputs)[-1]

    def verdict(self):
        """The verdict on the model's predictions of these rows (see :class:`~skfairmask.audit.Verdict`)."""
        predictions = self._outputs[self._model_name][0]
        return audit_predictions(self._y, predictions, self._sensitive, bias_metric=self.bias_metric,
                                 epsilon=self.epsilon, confidence=self.confidence)

    def groups(self):
        """Per model and group: counts, rates with their intervals, balanced accuracy and calibration.

        Returns
        -------
        pandas.DataFrame
            Indexed by (model, group). ``mean_proba`` against ``observed_rate``
            is the calibration: the mean predicted probability of the
            favourable label, and how often it really is favourable. The
            ``_low`` and ``_high`` columns bound each rate at the confidence.
        """
        rows = {}
        index = group_index(self._sensitive).astype(int)
        for name, (pred, proba) in self._outputs.items():
            for code, group in enumerate(self._group_names):
                member = index == code
                y, p = self._y[member], pred[member]
                row = {"count": int(member.sum()), "positives": int(y.sum())}
                for rate, among in (("selection_rate", np.ones_like(y, bool)), ("tpr", y == 1), ("fpr", y == 0)):
                    row[rate], row[f"{rate}_low"], row[f"{rate}_high"] = group_rates(
                        p[among].sum(), among.sum(), self.confidence)
                row["balanced_accuracy"] = np.nanmean([row["tpr"], 1 - row["fpr"]])
                row["mean_proba"] = proba[member].mean() if proba is not None else np.nan
                row["observed_rate"] = y.mean()
                rows[(name, group)] = row
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis(["model", "group"])

    def measures(self):
        """Per model: balanced accuracy, every bias measure and Φ (at ``bias_metric`` and ``epsilon``).

        Returns
        -------
        pandas.DataFrame
        """
        return pd.DataFrame.from_dict({
            name: fairness_summary(self._y, pred, self._sensitive, bias_metric=self.bias_metric,
                                   epsilon=self.epsilon)
            for name, (pred, _) in self._outputs.items()
        }, orient="index").rename_axis("model")

    def proxies(self):
        """The proxy audit of the rows (:func:`~skfairmask.proxies.proxy_audit`); None for images."""
        if np.ndim(self._X) != 2:
            return None
        model = self.estimator if hasattr(self.estimator, "predict") else None
        return proxy_audit(self._X, self._raw_sensitive if self._raw_sensitive.ndim == 1 else
                           group_index(self._sensitive), model=model)

    def details(self):
        """Where the model and data came from, and how the model decides: a dict for the provenance section."""
        est = self.estimator
        details = {"rows": len(self._y), "groups": ", ".join(self._group_names),
                   "favourable label": str(self._favourable), "model file": self.model_file or "–",
                   "data file": self.data_file or "–"}
        if _fitted_debiaser(est) is not None:
            details.update({
                "strategy": est.strategy_ if est.strategy_ == est.strategy else f"{est.strategy} → {est.strategy_}",
                "threshold": "most probable class" if est.threshold_ is None else f"{est.threshold_:.4f}",
                "pruning rate": f"{est.pruning_rate_:.1%}",
                "certified at fit": ("yes: " if est.tolerance_met_ else "no: ") + _fit_certificate(est),
            })
        elif hasattr(est, "threshold"):
            details["threshold"] = f"{est.threshold:.4f}"
        return details

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

    # ----- renderings --------------------------------------------------------------------------------

    def sections(self):
        """The report's sections in order, title → list of ("text", str) or ("table", DataFrame) parts."""
        verdict, proxies = self.verdict(), self.proxies()
        measure = BIAS_METRICS[self.bias_metric]
        low, high = verdict.bias_interval
        ba_low, ba_high = verdict.ba_interval
        key = pd.DataFrame({
            "Figure": [f"{measure.display_name} ({measure.name.upper()})", "Balanced accuracy"],
            "Estimate": [_signed(verdict.bias), f"{verdict.balanced_accuracy:.3f}"],
            f"{self.confidence:.0%} interval": [f"{_signed(low)} to {_signed(high)}", f"{ba_low:.3f} to {ba_high:.3f}"],
        })
        fitted = _fitted_debiaser(self.estimator)
        # A verdict on held-out rows may pass where the fit's own certificate did not: say both.
        uncertified = []
        if fitted is not None and not fitted.tolerance_met_:
            uncertified = [("text", (f"The fit did not certify this model: {_fit_certificate(fitted)}. The verdict "
                                     "above reads these held-out rows alone."))]
        sections = {
            "Verdict": [("text", ("PASS. " if verdict.passed else "FAIL. ") + verdict.sentence()), *uncertified,
                        ("table", key)],
            "Per group": [("table", self._group_table())],
            "Model and data": [("table", pd.DataFrame(list(self.details().items()), columns=["Item", "Value"]))],
            "Proxies of the protected attribute": [("text", proxies.sentence() if proxies is not None else
                                                    "Not audited: the rows are not tabular.")],
            "Model card": [("text", self._model_card(verdict, proxies))],
            "Glossary": [("table", pd.DataFrame(list(GLOSSARY.items()), columns=["Term", "Meaning"]))],
            "All measures": [("table", self.measures().rename(columns=str.upper).rename(
                columns={"BALANCED_ACCURACY": "Balanced accuracy", "PHI": f"Φ ({self.bias_metric.upper()}, "
                                                                           f"ε = {self.epsilon})"})
                              .round(3).reset_index().rename(columns={"model": "Model"}))],
        }
        layers = self.mask_by_layer()
        if not layers.empty:
            sections["Mask: the weights marked as carrying the bias"] = [
                ("text", "For those who want the internals: the share of each weight tensor that mask discovery "
                         "marked as corrupted."),
                ("table", layers.round(3).reset_index().rename(columns=lambda c: c.replace("_", " ").capitalize()))]
        return sections

    def _group_table(self):
        """Per model and group, rates with their intervals, as readable columns (no tuple labels)."""
        table = self.groups().reset_index()
        out = pd.DataFrame({"Model": table.model, "Group": table.group, "Rows": table["count"]})
        for rate in ("selection_rate", "tpr", "fpr"):
            out[_GROUP_COLUMNS[rate]] = [f"{r:.3f} ({lo:.3f}–{hi:.3f})" if np.isfinite(r) else "–"
                                         for r, lo, hi in zip(table[rate], table[f"{rate}_low"], table[f"{rate}_high"])]
        out["Balanced accuracy"] = table.balanced_accuracy.round(3)
        return out

    def _model_card(self, verdict, proxies):
        measure = BIAS_METRICS[self.bias_metric]
        lines = [f"Fairness evaluation: {measure.display_name} ({measure.definition}) on {verdict.n_rows} held-out "
                 f"rows, tolerance ε = {self.epsilon}, confidence {self.confidence:.0%}. {verdict.sentence()}"]
        if proxies is not None and proxies.attribute_columns:
            lines.append("The model receives the protected attribute as an input column; predicting 'without "
                         "the attribute' does not hold for it." + (
                             f" Changing only that column changes {proxies.flip_rate:.1%} of its predictions."
                             if proxies.flip_rate is not None else ""))
        lines.append("Limits: the figures describe the population these rows were drawn from; they say nothing "
                     "of other populations, other measures of fairness, or individuals.")
        return " ".join(lines)

    def to_markdown(self):
        """The report as Markdown text (tables only)."""
        parts = ["# Fairness report", ""]
        for title, content in self.sections().items():
            parts += [f"## {title}", ""]
            for kind, value in content:
                parts += [value if kind == "text" else value.to_markdown(index=False), ""]
        return "\n".join(parts)

    def to_html(self):
        """The report as one self-contained HTML page, with its plots embedded."""
        import matplotlib.pyplot as plt

        body = []
        for title, content in self.sections().items():
            body.append(f"<h2>{html.escape(title)}</h2>")
            for kind, value in content:
                if kind == "text" and title == "Verdict" and value.startswith(("PASS", "FAIL")):
                    passed = value.startswith("PASS")
                    body.append(f'<p class="verdict {"pass" if passed else "fail"}">{html.escape(value)}</p>')
                else:
                    body.append(f"<p>{html.escape(value)}</p>" if kind == "text" else value.to_html(index=False))
        images = []
        for name, figure in self.figures().items():
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=110)
            plt.close(figure)
            data = base64.b64encode(buffer.getvalue()).decode()
            images.append(f'<figure><img alt="{name}" src="data:image/png;base64,{data}"></figure>')
        return _HTML.format(body="\n".join(body), images="\n".join(images))

    def metrics(self):
        """Everything the report says, as a plain dict (``metrics.json``)."""
        proxies = self.proxies()
        return {"verdict": self.verdict().summary(), "details": self.details(),
                "proxies": None if proxies is None else proxies.summary(),
                "measures": json.loads(self.measures().to_json(orient="index")),
                "groups": json.loads(self.groups().reset_index().to_json(orient="records"))}

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
        for name, text in (("report.md", self.to_markdown()), ("report.html", self.to_html()),
                           ("metrics.json", json.dumps(self.metrics(), indent=1))):
            (directory / name).write_text(text)
            written.append(directory / name)
        return written


_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Fairness report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 64em; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}
.verdict {{ font-size: 1.15em; padding: 0.6em 0.8em; border-left: 0.4em solid; }}
.pass {{ border-color: #2a7; background: #eef8f2; }} .fail {{ border-color: #c33; background: #fbeeee; }}
figure {{ display: inline-block; margin: 0.5em; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>Fairness report</h1>
<p>Figures are for the rows the report was given; give it rows the model was not fitted or tuned on.</p>
{body}
<h2>Plots</h2>
{images}
</body></html>
"""


def _signed(value):
    """A signed figure to three decimals, without a minus sign on zero."""
    return f"{value + 0.0:+.3f}" if round(value, 3) != 0 else "0.000"


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
    """For a fitted binary debiaser, the network it was given, as a classifier at threshold 0.5."""
    if _fitted_debiaser(estimator) is None:
        return None
    if estimator.estimator is None or len(estimator.classes_) != 2:
        return None
    return as_classifier(estimator.estimator, estimator.input_shape_, estimator.classes_, device=estimator.device)


def _fit_certificate(estimator):
    """What a fitted debiaser's own certificate says, in words (without the yes or no)."""
    certificate, measure = estimator.certificate_, estimator.bias_metric.upper()
    where = f"on the {certificate['certified_on']} at {estimator.confidence:.0%} confidence"
    if certificate["rows"] == "uncertified":
        return (f"no model both fair and better than a constant prediction could be certified at "
                f"{estimator.confidence:.0%} confidence; this one is the most accurate rule whose bound on "
                f"|{measure}| is under {estimator.epsilon} on the {certificate['n_rows']} rows that chose it, and "
                "nothing about it is certified")
    if not certificate["fair"]:
        return (f"|{measure}| < {estimator.epsilon} could not be certified {where}; the data supports "
                f"ε = {estimator.certified_epsilon_:.3f}")
    if certificate["constant"]:
        return f"the only model certified fair {where} predicts one class for everyone (fair, and useless)"
    fair = f"|{measure}| < {estimator.certified_epsilon_:.3f} {where}"
    return fair + (", and better than a constant prediction" if certificate["better_than_constant"]
                   else ", but not shown better than a constant prediction")


def _fitted_debiaser(estimator):
    """``estimator`` if it is a fitted FairMaskDebiaser (whose certificate the report reads), else None."""
    return estimator if isinstance(estimator, FairMaskDebiaser) and hasattr(estimator, "net_") else None
