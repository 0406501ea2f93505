"""Checks on the data handed to the estimator (parameters are checked by its constraints)."""

import numpy as np
from sklearn.utils.multiclass import type_of_target

__all__ = ["check_sensitive", "encode_binary_target"]

# The (group, label) cells a measure needs rows in, named for error messages.
_NEEDED_CELLS = {
    "spd": [],
    "eod": [(1, "positive")],
    "aod": [(1, "positive"), (0, "negative")],
}


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


def check_sensitive(sensitive, *, n_samples, y01, bias_metric):
    """Validate the protected attribute and code it as float32 0/1.

    Parameters
    ----------
    sensitive : array-like of shape (n,)
        0/1 or boolean, 1 being the privileged group.
    n_samples : int
        Rows of X.
    y01 : ndarray of shape (n,)
        The target coded 0/1.
    bias_metric : str
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
    for group in (0.0, 1.0):
        for label, label_name in _NEEDED_CELLS[bias_metric]:
            if not np.any((values == group) & (y01 == label)):
                raise ValueError(
                    f"bias_metric={bias_metric!r} needs {label_name} labels in each group, but "
                    f"group sensitive={int(group)} has none."
                )
    return values.astype(np.float32)
