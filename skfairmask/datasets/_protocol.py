"""The evaluation protocol of Savani et al.: a 60/20/20 split, scaled on train."""

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

__all__ = ["ProtocolSplit", "protocol_split"]


@dataclass(frozen=True)
class ProtocolSplit:
    """Train, validation and test parts, each ``(X, y, A)`` of numpy arrays.

    ``X`` is float32, standardised with a scaler fitted on the train part;
    ``y`` and ``A`` are 0/1 ints.
    """

    train: tuple
    validation: tuple
    test: tuple


def protocol_split(X, y, A, *, random_state=0):
    """Split 60/20/20 into train, validation and test, stratified by (A, y).

    The base network is trained on train, debiased on validation, and all
    reported figures come from test.

    Parameters
    ----------
    X : array-like of shape (n, d)
    y, A : array-like of shape (n,)
        0/1 labels and protected attribute.
    random_state : int, default=0

    Returns
    -------
    ProtocolSplit
    """
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y).astype(int)
    A = np.asarray(A).astype(int)
    strata = 2 * A + y
    rows = np.arange(len(y))
    train, rest = train_test_split(rows, train_size=0.6, stratify=strata, random_state=random_state)
    validation, test = train_test_split(rest, test_size=0.5, stratify=strata[rest], random_state=random_state)
    scaler = StandardScaler().fit(X[train])

    def part(index):
        return scaler.transform(X[index]).astype(np.float32), y[index], A[index]

    return ProtocolSplit(part(train), part(validation), part(test))
