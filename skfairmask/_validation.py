"""Checks on the data handed to the estimator (parameters are checked by its constraints)."""

import numpy as np
import pandas as pd
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import column_or_1d, validate_data

from .metrics import BIAS_METRICS, group_index, one_hot_groups

__all__ = [
    "check_features",
    "check_sensitive",
    "check_target_length",
    "encode_target",
    "sensitive_from_columns",
    "sensitive_from_index",
]

_LABEL_NAMES = {0: "negative", 1: "positive"}


def check_features(estimator, X, *, reset, dtype=np.float32):
    """``validate_data`` on ``X`` alone, with a message that names ``X`` for non-numbers.

    Parameters
    ----------
    estimator : BaseEstimator
    X : array-like of shape (n_samples, n_features) or (n_samples, ...)
    reset : bool
        Record ``n_features_in_`` (in ``fit``) rather than check it.
    dtype : dtype or list of dtypes, default=np.float32
        As in ``validate_data``; a list keeps any of its dtypes without a copy.

    Returns
    -------
    ndarray
    """
    try:
        # allow_nd: images (n, channels, height, width) go to the network as they are.
        return validate_data(estimator, X, dtype=dtype, reset=reset, allow_nd=True)
    except ValueError as error:
        if "could not convert" in str(error) or "dtype='numeric'" in str(error):
            raise ValueError(
                f"X must hold numbers only; encode categorical columns first (for example with "
                f"sklearn.preprocessing.OneHotEncoder). {error}"
            ) from error
        raise


def check_target_length(y, n_samples):
    """Raise if ``y`` is not one value per row of ``X``, or holds NaN; a column vector is raveled, with a warning."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    if y.ndim != 1 or len(y) != n_samples:
        raise ValueError(
            f"y must be 1-dimensional with one value per row of X ({n_samples}), got shape {y.shape}."
        )
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise ValueError("y contains NaN; every row needs a label.")
    return y


def encode_target(y):
    """Code the target as class indices: 0/1 for two classes, the greater being favourable.

    Parameters
    ----------
    y : array-like of shape (n,)

    Returns
    -------
    codes : ndarray of shape (n,), float32
        0/1 for two classes (``classes[1]`` is favourable, as AIF360's 1);
        0..k-1 for ``k`` classes.
    classes : ndarray of shape (k,)
    """
    kind = type_of_target(y, input_name="y", raise_unknown=True)
    classes, codes = np.unique(y, return_inverse=True)
    if kind not in ("binary", "multiclass"):
        raise ValueError(
            f"y must hold class labels (binary or multi-class classification); the type of the "
            f"target is {kind}."
        )
    if len(classes) < 2:
        raise ValueError(f"y holds 1 class ({classes[0]!r}); classification needs at least two classes.")
    return codes.astype(np.float32), classes


def sensitive_from_index(X, prot_attr):
    """The values of the index level(s) ``prot_attr`` of a DataFrame ``X`` (AIF360's convention).

    Parameters
    ----------
    X : pandas.DataFrame
    prot_attr : str or list of str
        One level, or several whose combinations are the groups.

    Returns
    -------
    ndarray of shape (n,), or (n, len(prot_attr)) for a list

    Raises
    ------
    ValueError
        If ``X`` has no index, or no level of that name.
    """
    index = getattr(X, "index", None)
    if index is None:
        raise ValueError(
            f"prot_attr={prot_attr!r} names an index level of X, but X has no index "
            f"({type(X).__name__}); pass a pandas DataFrame, or pass sensitive= instead."
        )
    names = [prot_attr] if isinstance(prot_attr, str) else list(prot_attr)
    missing = [name for name in names if name not in index.names]
    if missing:
        raise ValueError(f"prot_attr={prot_attr!r} is not an index level of X; its levels are {list(index.names)}.")
    levels = [np.asarray(index.get_level_values(name)) for name in names]
    return levels[0] if isinstance(prot_attr, str) else np.column_stack(levels)


def is_column_name(sensitive):
    """Whether ``sensitive`` names columns (a string, or a list of strings) rather than holding values."""
    return isinstance(sensitive, str) or (isinstance(sensitive, list) and bool(sensitive)
                                          and all(isinstance(name, str) for name in sensitive))


def sensitive_from_columns(X, names):
    """The values of the column(s) ``names`` of a DataFrame ``X``; the columns stay among the features.

    Parameters
    ----------
    X : pandas.DataFrame
    names : str or list of str

    Returns
    -------
    ndarray of shape (n,), or (n, len(names)) for a list

    Raises
    ------
    ValueError
        If ``X`` is not a DataFrame with those columns.
    """
    columns = [names] if isinstance(names, str) else list(names)
    missing = [name for name in columns if name not in getattr(X, "columns", [])]
    if missing:
        where = f"X has no column {missing}" if hasattr(X, "columns") else f"X is a {type(X).__name__}, not a DataFrame"
        raise ValueError(
            f"sensitive={names!r} names a column, but {where}. Pass the attribute's values instead "
            "(sensitive=df['race'].to_numpy()), or a DataFrame X that holds the column."
        )
    values = X[columns].to_numpy()
    return values[:, 0] if isinstance(names, str) else values


def check_sensitive(sensitive, *, n_samples, y01=None, bias_metric=None, priv_group=1):
    """Validate the protected attribute and code it for :func:`~skfairmask.metrics.bias_gap`.

    Parameters
    ----------
    sensitive : array-like of shape (n,) or (n, k)
        Two values, one of them ``priv_group``; or three or more group
        labels; or ``k`` attributes per row, whose combinations are the
        groups (intersectional).
    n_samples : int
        Rows of X.
    y01 : ndarray of shape (n,), optional
        The target's class codes (0/1 when binary). With ``bias_metric``, the (group, label) cells
        are checked too (what ``fit`` needs; scoring needs only the groups).
    bias_metric : str, optional
        Decides which (group, label) cells must be non-empty.
    priv_group : scalar, default=1
        With two groups, the value that marks the privileged one, as in
        AIF360's scikit-learn API.

    Returns
    -------
    ndarray of shape (n,) or (n, n_groups), float32
        Two groups: 1 for the privileged group, 0 otherwise. More: one-hot.
    """
    if sensitive is None:
        raise ValueError(
            "sensitive is required: pass the protected attribute as fit(X, y, sensitive=A), "
            "or set prot_attr to the name of an index level of a DataFrame X that holds it."
        )
    values = np.asarray(sensitive)
    if values.ndim not in (1, 2) or len(values) != n_samples:
        raise ValueError(
            f"sensitive must be 1-dimensional (or 2-dimensional, one column per attribute) with one "
            f"value per row of X ({n_samples}), got shape {values.shape}."
        )
    if pd.isna(values).any():
        raise ValueError(f"sensitive contains NaN in {int(pd.isna(values).sum())} row(s); every row needs a group.")
    if values.ndim == 2:
        coded = one_hot_groups(values)
    else:
        groups = pd.unique(values)
        if len(groups) == 2 and not np.any(values == priv_group):
            raise ValueError(
                f"sensitive must hold priv_group={priv_group!r}, the value of the privileged group; "
                f"got values {sorted(groups, key=str)}. Set priv_group to the privileged group's value."
            )
        coded = (values == priv_group).astype(np.float64) if len(groups) == 2 else one_hot_groups(values)
    if coded.ndim == 2 and coded.shape[1] < 2:  # two groups are coded 1-D, so one group lands here
        raise ValueError(f"sensitive holds a single group ({values[0]!r}); two groups are needed to measure bias.")
    if y01 is not None and bias_metric is not None:
        _check_cells(group_index(coded), y01, bias_metric)
    return coded.astype(np.float32)


def _check_cells(groups, y01, bias_metric):
    """Every group has the labels the measure needs (a cell too small to split is left to the certificate)."""
    labels = np.unique(y01)
    if len(labels) != 2:  # a multi-class measure averages over the classes present: no cell is required
        return
    for group in np.unique(groups):
        name = f"group sensitive={int(group)}" if len(np.unique(groups)) == 2 else f"group {int(group)}"
        for label in BIAS_METRICS[bias_metric].needed_labels:
            if not np.any((groups == group) & (y01 == label)):
                raise ValueError(
                    f"bias_metric={bias_metric!r} needs {_LABEL_NAMES[label]} labels in each group, but "
                    f"{name} has none."
                )
