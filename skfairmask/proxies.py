"""How much "predicts without the protected attribute" means for a dataset: a proxy audit.

A model that takes only ``X`` can still read the protected attribute if it is
a column of ``X`` (AIF360's preparation keeps it), or if other columns carry
it. The audit says:

* which columns of ``X`` *are* the attribute (their values tell the groups
  apart exactly);
* how well the other columns predict it: the cross-validated AUC of a
  logistic regression (0.5 is no information, 1 is the attribute itself),
  and the columns with the largest standardised weights;
* where the attribute is a column, the counterfactual flip rate: the share of
  a model's predictions that change when only that column is switched to
  the other group's value.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = ["ProxyAudit", "attribute_column_positions", "attribute_columns", "proxy_audit"]

#: Columns listed as the attribute's strongest proxies.
TOP_PROXIES = 5


@dataclass(frozen=True)
class ProxyAudit:
    """What the proxy audit found.

    Attributes
    ----------
    attribute_columns : list of str
        Columns of ``X`` whose values tell the groups apart exactly.
    auc : float
        Cross-validated AUC with which the *other* columns predict the
        attribute (mean one-against-rest AUC for several groups); NaN when no
        other column is left.
    top_proxies : list of (str, float)
        The other columns with the largest standardised logistic weights.
    flip_rate : float or None
        Share of the model's predictions that change when only the attribute's
        column is switched to the other group's value; None when the attribute
        is not a single column of ``X`` or no model was given.
    """

    attribute_columns: list
    auc: float
    top_proxies: list = field(default_factory=list)
    flip_rate: object = None

    def sentence(self):
        """The audit in plain words."""
        parts = []
        if self.attribute_columns:
            parts.append(f"The protected attribute is itself a column of X ({', '.join(self.attribute_columns)}), "
                         "so a model that predicts from X alone can still read it.")
        else:
            parts.append("The protected attribute is not a column of X.")
        if not np.isnan(self.auc):
            names = ", ".join(name for name, _ in self.top_proxies[:3])
            parts.append(f"The other columns predict it with a cross-validated AUC of {self.auc:.2f} "
                         f"(0.5: no information){'; the strongest proxies: ' + names if names else ''}.")
        if self.flip_rate is not None:
            parts.append(f"Switching only that column to the other group's value changes {self.flip_rate:.1%} of "
                         "the model's predictions.")
        return " ".join(parts)

    def summary(self):
        return {"attribute_columns": self.attribute_columns, "auc": None if np.isnan(self.auc) else self.auc,
                "top_proxies": [[name, weight] for name, weight in self.top_proxies], "flip_rate": self.flip_rate,
                "sentence": self.sentence()}


def _frame(X):
    if isinstance(X, pd.DataFrame):
        return X.reset_index(drop=True)
    X = np.asarray(X)
    return pd.DataFrame(X.reshape(len(X), -1), columns=[f"x{i}" for i in range(int(np.prod(X.shape[1:])))])


def attribute_columns(X, groups):
    """The columns of ``X`` whose values identify each row's group exactly (one value set per group).

    Parameters
    ----------
    X : DataFrame or array of shape (n, d)
    groups : array-like of shape (n,)
        Each row's group.

    Returns
    -------
    list of str
    """
    frame = _frame(X)
    return [str(frame.columns[position]) for position in attribute_column_positions(frame, groups)]


def attribute_column_positions(X, groups):
    """Positions of the columns of ``X`` that :func:`attribute_columns` names.

    Parameters
    ----------
    X : DataFrame or array of shape (n, d)
    groups : array-like of shape (n,)

    Returns
    -------
    list of int
    """
    frame, groups = _frame(X), np.asarray(groups)
    n_groups = len(pd.unique(groups))
    found = []
    for position, name in enumerate(frame.columns):
        pairs = pd.DataFrame({"value": frame[name].to_numpy(), "group": groups}).drop_duplicates()
        # One value per group, and each value in one group only: the column is the attribute, recoded.
        if len(pairs) == n_groups and pairs.value.is_unique and pairs.group.is_unique:
            found.append(position)
    return found


def proxy_audit(X, groups, *, model=None, random_state=0):
    """Audit ``X`` for the protected attribute and its proxies (see the module's docstring).

    Parameters
    ----------
    X : DataFrame or array of shape (n, d)
        Tabular features.
    groups : array-like of shape (n,)
        Each row's group (two or more).
    model : object with ``predict``, optional
        For the counterfactual flip rate.
    random_state : int, default=0
        Seeds the cross-validation folds.

    Returns
    -------
    ProxyAudit
    """
    frame, groups = _frame(X), np.asarray(groups)
    columns = attribute_columns(frame, groups)
    others = frame.drop(columns=columns)
    auc, top = np.nan, []
    codes = pd.factorize(groups)[0]
    if others.shape[1] and len(np.unique(codes)) > 1:
        fitter = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        folds = StratifiedKFold(5, shuffle=True, random_state=random_state)
        proba = cross_val_predict(fitter, others.to_numpy(dtype=float), codes, cv=folds, method="predict_proba")
        auc = float(roc_auc_score(codes, proba[:, 1]) if proba.shape[1] == 2 else
                    roc_auc_score(codes, proba, multi_class="ovr"))
        weights = np.abs(fitter.fit(others.to_numpy(dtype=float), codes)[-1].coef_).max(0)
        order = np.argsort(-weights)[:TOP_PROXIES]
        top = [(str(others.columns[i]), float(weights[i])) for i in order]
    flip = _flip_rate(X, frame, columns, groups, model) if model is not None and len(columns) == 1 else None
    return ProxyAudit(columns, auc, top, flip)


def _flip_rate(X, frame, columns, groups, model):
    """Share of predictions that change when the attribute's column takes the other group's value."""
    column = columns[0]
    values = frame[column].to_numpy()
    by_group = pd.Series(values).groupby(groups).first()
    if len(by_group) != 2:
        return None
    low, high = by_group.to_numpy()
    swapped = frame.copy()
    swapped[column] = np.where(values == low, high, low)
    if not isinstance(X, pd.DataFrame):
        swapped = swapped.to_numpy(dtype=np.asarray(X).dtype).reshape(np.shape(X))
    else:
        swapped.index = X.index
    return float(np.mean(np.asarray(model.predict(X)) != np.asarray(model.predict(swapped))))
