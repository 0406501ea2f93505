"""Images: the CIFAR-10S skew construction, and CIFAR-10's python batches read without running code."""

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

__all__ = ["SkewedSplit", "grayscale", "load_cifar10", "make_skewed"]

#: ITU-R BT.601 luma weights, the usual colour-to-gray conversion.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def grayscale(images):
    """Gray copies of colour images (n, 3, h, w), kept 3-channel so that one network takes both."""
    images = np.asarray(images)
    luma = np.tensordot(_LUMA, images.astype(np.float32), axes=([0], [1]))  # (n, h, w)
    return np.repeat(luma[:, None], 3, axis=1).astype(images.dtype, copy=False)


@dataclass(frozen=True)
class SkewedSplit:
    """A CIFAR-10S-style split.

    Attributes
    ----------
    X_train : ndarray of shape (n_train, 3, h, w)
        Each training image in one domain only: colour or gray.
    y_train : ndarray of shape (n_train,)
    domain_train : ndarray of shape (n_train,)
        1 for colour, 0 for gray: the protected attribute.
    X_test_colour, X_test_gray : ndarray of shape (n_test, 3, h, w)
        The same test images in both domains.
    y_test : ndarray of shape (n_test,)
    colour_majority : ndarray of shape (n_classes,)
        The classes whose training images are mostly colour.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    domain_train: np.ndarray
    X_test_colour: np.ndarray
    X_test_gray: np.ndarray
    y_test: np.ndarray
    colour_majority: np.ndarray


def make_skewed(images, labels, ratio=0.95, *, test_size=0.2, random_state=None):
    """Build a CIFAR-10S-style skewed split from any labelled set of colour images.

    Per class, the training images are split ``ratio`` / ``1 − ratio``
    between a colour and a gray copy: for half of the classes (chosen at
    random) the majority is colour, for the others gray, so that the domains
    are balanced overall but each class leans to one. The test images are
    returned in both domains.

    Parameters
    ----------
    images : array-like of shape (n, 3, h, w)
        Colour images.
    labels : array-like of shape (n,)
    ratio : float, default=0.95
        The majority domain's share of each class's training images.
    test_size : float, default=0.2
        Share of the images, stratified by class, kept for the test sets.
    random_state : int, RandomState or None

    Returns
    -------
    SkewedSplit
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be colour images of shape (n, 3, h, w), got {images.shape}.")
    if not 0.5 <= ratio < 1:
        raise ValueError(f"ratio must be in [0.5, 1), got {ratio}.")
    rng = check_random_state(random_state)
    train, test = train_test_split(np.arange(len(labels)), test_size=test_size, stratify=labels,
                                   random_state=rng.randint(np.iinfo(np.int32).max))
    classes = np.unique(labels)
    colour_majority = np.sort(rng.choice(classes, size=len(classes) // 2, replace=False))
    colour = np.zeros(len(labels), dtype=bool)
    for label in classes:
        members = rng.permutation(train[labels[train] == label])
        share = ratio if label in colour_majority else 1 - ratio
        colour[members[: int(round(share * len(members)))]] = True
    X_train = np.where(colour[train][:, None, None, None], images[train], grayscale(images[train]))
    return SkewedSplit(
        X_train=X_train, y_train=labels[train], domain_train=colour[train].astype(int),
        X_test_colour=images[test], X_test_gray=grayscale(images[test]), y_test=labels[test],
        colour_majority=colour_majority,
    )


class _ArraysOnly(pickle.Unpickler):
    """Unpickles dicts, lists and numpy arrays, and refuses anything that would run other code."""

    _ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),  # how protocol 2 rebuilds bytes: text in, bytes out, nothing else
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch file.")


def _read_batch(path):
    with open(path, "rb") as file:
        batch = _ArraysOnly(file, encoding="bytes").load()
    data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return data, np.asarray(batch[b"labels"], dtype=np.int64)


def load_cifar10(folder):
    """CIFAR-10 from its standard python batches in a local folder (nothing is downloaded).

    The batches are pickles; they are read with an unpickler that accepts
    only arrays and plain containers, so a tampered file cannot run code.

    Parameters
    ----------
    folder : str or path-like
        The folder ``cifar-10-batches-py``, holding ``data_batch_1`` …
        ``data_batch_5`` and ``test_batch``.

    Returns
    -------
    X_train : ndarray of shape (50000, 3, 32, 32), uint8
    y_train : ndarray of shape (50000,)
    X_test : ndarray of shape (10000, 3, 32, 32), uint8
    y_test : ndarray of shape (10000,)
    """
    folder = Path(folder)
    train_files = sorted(folder.glob("data_batch_*"))
    if not train_files or not (folder / "test_batch").exists():
        raise FileNotFoundError(f"{folder} holds no CIFAR-10 python batches (data_batch_1 … and test_batch).")
    parts = [_read_batch(path) for path in train_files]
    X_test, y_test = _read_batch(folder / "test_batch")
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), X_test, y_test
