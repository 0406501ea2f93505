"""A small synthetic dataset on which a plain classifier is visibly unfair."""

import numpy as np

__all__ = ["make_biased_classification"]


def make_biased_classification(n_samples=1000, n_features=8, *, bias=3.0, random_state=None):
    """Binary classification data whose labels favour the privileged group.

    The label depends on the features and, through ``bias``, on the group;
    the group is also the last feature, so a network trained on ``X`` learns
    to use it and ends up unfair.

    Parameters
    ----------
    n_samples : int, default=1000
    n_features : int, default=8
        Columns of ``X``, the last being the group.
    bias : float, default=3.0
        How much belonging to the privileged group raises the label's logit.
    random_state : int or None
        Seeds the data.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32
    y : ndarray of shape (n_samples,), int
    A : ndarray of shape (n_samples,), int
        1 = privileged (60% of rows).
    """
    rng = np.random.default_rng(random_state)
    A = (rng.random(n_samples) < 0.6).astype(int)
    Z = rng.normal(size=(n_samples, n_features - 1))
    Z[:, 0] += 0.5 * A  # a proxy feature correlated with the group
    weights = rng.normal(size=n_features - 1)
    logit = Z @ weights / np.sqrt(n_features - 1) * 2.0 + bias * (A - 0.5)
    y = (rng.random(n_samples) < 1 / (1 + np.exp(-logit))).astype(int)
    X = np.column_stack([Z, A]).astype(np.float32)
    return X, y, A
