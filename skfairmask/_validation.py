"""Checks on the data handed to the estimator (parameters are checked by its constraints)."""

import numpy as np
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import validate_data

__all__ = ["check_features", "check_sensitive", "check_target_length", "encode_binary_target"]

#: Rows each occurring (group, label) cell needs: the rows are split stratified
#: by cell, twice when the base network is trained on part of them.
MIN_CELL_ROWS = 4

# The (group, label) cells a measure needs rows in, named for error messages.
_NEEDED_CELLS = {
    "spd": [],
    "eod": [(1, "positive")],
    "aod": [(1, "positive"), (0, "negative")],
}


def check_features(estimator, X, *, reset, dtype=np.float32):
    """``validate_data`` on ``X`` alone, with a message that names ``X`` for non-numbers.

    Parameters
    ----------
    estimator : BaseEstimator
    X : array-like of shape (n_samples, n_features)
    reset : bool
        Record ``n_features_in_`` (in ``fit``) rather than check it.
    dtype : dtype or list of dtypes, default=np.float32
        As in ``validate_data``; a list keeps any of its dtypes without a copy.

    Returns
    -------
    ndarray
    """
    try:
        return validate_data(estimator, X, dtype=dtype, reset=reset)
    except ValueError as error:
        if "could not convert" in str(error) or "dtype='numeric'" in str(error):
            raise ValueError(
                f"X must hold numbers only; encode categorical columns first (for example with "
                f"sklearn.preprocessing.OneHotEncoder). {error}"
            ) from error
        raise


def check_target_length(y, n_samples):
    """Raise if ``y`` is not one value per row of ``X``, or holds NaN."""
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n_samples:
        raise ValueError(
            f"y must be 1-dimensional with one value per row of X ({n_samples}), got shape {y.shape}."
        )
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise ValueError("y contains NaN; every row needs a label.")
    return y


def encode_binary_target(y):
    """Code a two-class target as 0/1, the greater class being favourable.

    Parameters
    ----------
    y : array-like of shape (n,)

    Returns
    -------
    y01 : ndarray of shape (n,), float32
    classes : ndarray of shape (2,)
        ``classes[1]`` is the favourable label, as in AIF360's convention of 1.
    """
    kind = type_of_target(y, input_name="y")
    classes = np.unique(y)
    if kind not in ("binary",) or len(classes) != 2:
        raise ValueError(
            f"y must hold exactly two classes for binary classification, got {len(classes)} "
            f"class(es) ({kind}): {classes[:5]}."
        )
    return (np.asarray(y) == classes[1]).astype(np.float32), classes


def check_sensitive(sensitive, *, n_samples, y01=None, bias_metric=None):
    """Validate the protected attribute and code it as float32 0/1.

    Parameters
    ----------
    sensitive : array-like of shape (n,)
        0/1 or boolean, 1 being the privileged group.
    n_samples : int
        Rows of X.
    y01 : ndarray of shape (n,), optional
        The target coded 0/1. With ``bias_metric``, the (group, label) cells
        are checked too (what ``fit`` needs; scoring needs only the groups).
    bias_metric : str, optional
        Decides which (group, label) cells must be non-empty.

    Returns
    -------
    ndarray of shape (n,), float32
    """
    if sensitive is None:
        raise ValueError(
            "sensitive is required: pass the protected attribute as fit(X, y, sensitive=A), "
            "with A coded 1 for the privileged group and 0 otherwise."
        )
    values = np.asarray(sensitive)
    if values.ndim != 1 or len(values) != n_samples:
        raise ValueError(
            f"sensitive must be 1-dimensional with one value per row of X ({n_samples}), "
            f"got shape {values.shape}."
        )
    try:
        values = values.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError("sensitive must be numeric or boolean, coded 1 = privileged and 0 otherwise.") from None
    if not np.isin(values, (0.0, 1.0)).all():
        raise ValueError(
            "sensitive must be coded 0/1 (1 = privileged), got values "
            f"{np.unique(values[~np.isnan(values)])[:5]}{' and NaN' if np.isnan(values).any() else ''}."
        )
    if len(np.unique(values)) < 2:
        raise ValueError("sensitive holds a single group; both groups (0 and 1) are needed to measure bias.")
    if y01 is None or bias_metric is None:
        return values.astype(np.float32)
    for group in (0.0, 1.0):
        for label, label_name in _NEEDED_CELLS[bias_metric]:
            if not np.any((values == group) & (y01 == label)):
                raise ValueError(
                    f"bias_metric={bias_metric!r} needs {label_name} labels in each group, but "
                    f"group sensitive={int(group)} has none."
                )
        for label in (0.0, 1.0):
            count = int(np.sum((values == group) & (y01 == label)))
            if 0 < count < MIN_CELL_ROWS:
                raise ValueError(
                    f"group sensitive={int(group)} has only {count} row(s) with label {int(label)}; each "
                    f"(group, label) cell that occurs needs at least {MIN_CELL_ROWS} rows, because the "
                    "rows are split stratified by cell."
                )
    return values.astype(np.float32)
