"""Turning what the user handed in into a private torch module, and back.

Internally every network is a :class:`FavourableLogit`: a deep copy of the
user's module whose output is reduced to one logit per row for the favourable
label, or, with more than two classes, one logit per class. The user's own
object is never touched.
"""

import copy

import numpy as np
import torch
from skorch import NeuralNet, NeuralNetBinaryClassifier, NeuralNetClassifier
from sklearn.frozen import FrozenEstimator
from torch import nn

from ._progress import EpochProgress, SkorchProgress
from ._threads import threads_for, torch_threads

__all__ = [
    "FavourableLogit",
    "ThresholdClassifier",
    "as_classifier",
    "check_output_finite",
    "LastLayerInput",
    "make_base_module",
    "resolve_network",
    "to_skorch",
    "train_base_network",
]


class FavourableLogit(nn.Module):
    """Wraps a classifier so that it returns the favourable-class logit, or the class logits.

    Parameters
    ----------
    module : torch.nn.Module
        A binary classifier outputs one logit per row (shape (n,) or (n, 1)),
        two logits (n, 2), or two probabilities (n, 2); the wrapper returns
        the favourable-class logit, shape (n,). A classifier of ``k > 2``
        classes outputs (n, k) logits or probabilities; the wrapper returns
        (n, k) logits.
    output : {"logits", "probabilities"}, default="logits"
        What a multi-column output holds.

    Attributes
    ----------
    input_offset : torch.Tensor of shape (n_features,) or None
        Weights on the input columns subtracted from the favourable logit
        (``logit − X @ input_offset``): the input part of the ``offset``
        strategy's edit. None (no offset) unless that strategy set it.
    """

    def __init__(self, module, output="logits"):
        super().__init__()
        self.module = module
        self.output = output
        self.register_buffer("input_offset", None)

    def forward(self, X):
        out = self.module(X)
        if out.dim() == 2 and out.shape[1] >= 2:
            if self.output == "probabilities":
                out = torch.log(out.clamp_min(1e-12))
            out = out[:, 1] - out[:, 0] if out.shape[1] == 2 else out
        else:
            out = out.reshape(-1)
        if self.input_offset is not None:
            out = out - X.flatten(1) @ self.input_offset
        return out


def _unwrap(estimator):
    """The torch module inside ``estimator`` and what its two columns hold."""
    if isinstance(estimator, FrozenEstimator):
        estimator = estimator.estimator
    if isinstance(estimator, NeuralNet):
        if not getattr(estimator, "initialized_", False):
            raise ValueError(
                f"estimator is a {type(estimator).__name__} that is not initialised, so it holds no "
                "pre-trained weights. Pass the fitted net. If it went through sklearn.clone (as "
                "search and cross-validation do with anything but FairMaskDebiaser's own estimator), "
                "it was re-initialised: wrap the fitted net in sklearn.frozen.FrozenEstimator."
            )
        # skorch's NLLLoss convention: the module outputs probabilities.
        criterion = getattr(estimator, "criterion_", estimator.criterion)
        probabilities = isinstance(criterion, nn.NLLLoss) or criterion is nn.NLLLoss
        return estimator.module_, "probabilities" if probabilities else "logits"
    if isinstance(estimator, nn.Module):
        return estimator, "logits"
    raise TypeError(
        "estimator must be a fitted skorch net (bare or in sklearn.frozen.FrozenEstimator), "
        f"a torch.nn.Module, or None; got {type(estimator).__name__}."
    )


def resolve_network(estimator, input_shape, device="cpu", n_classes=2):
    """A private :class:`FavourableLogit` copy of the user's network, checked.

    Parameters
    ----------
    estimator : skorch net, FrozenEstimator of one, or torch.nn.Module
    input_shape : int or tuple of int
        The shape of one row of the data the network will see: its number of
        features, or ``(channels, height, width)`` for images.
    device : str or torch.device, default="cpu"
    n_classes : int, default=2
        The classes of the target; beyond two, the network must output one
        column per class.

    Returns
    -------
    FavourableLogit
        On ``device``, in eval mode.

    Raises
    ------
    TypeError
        If ``estimator`` holds no torch module.
    ValueError
        If the network does not take rows of ``input_shape`` or its output
        does not fit binary classification.
    """
    module, output = _unwrap(estimator)
    network = FavourableLogit(copy.deepcopy(module), output).to(device).eval()
    input_shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    probe = torch.zeros(2, *input_shape, device=device)
    with torch.no_grad():
        try:
            raw = network.module(probe)
        except RuntimeError as error:
            described = f"{input_shape[0]} features" if len(input_shape) == 1 else f"rows of shape {input_shape}"
            raise ValueError(f"The estimator's network cannot take X with {described}: {error}") from error
    if n_classes == 2 and raw.shape not in {(2,), (2, 1), (2, 2)}:
        raise ValueError(
            "The estimator's network output does not fit binary classification: expected "
            f"shape (n,), (n, 1) or (n, 2), got {tuple(raw.shape)} for n=2."
        )
    if n_classes > 2 and raw.shape != (2, n_classes):
        raise ValueError(
            f"The estimator's network output does not fit y's {n_classes} classes: expected "
            f"shape (n, {n_classes}), one column per class, got {tuple(raw.shape)} for n=2."
        )
    return network


@torch.no_grad()
def check_output_finite(network, X, batch_rows=65_536):
    """Raise a ValueError if ``network`` outputs NaN or inf on any row of ``X``.

    Debiasing such a network would fail late, or tune a threshold on NaN
    scores; this says so at once.

    Parameters
    ----------
    network : FavourableLogit
    X : torch.Tensor of shape (n, ...)
        On the network's device.
    batch_rows : int, default=65536
    """
    network.eval()
    bad = sum(int((~torch.isfinite(network(X[i : i + batch_rows]))).sum()) for i in range(0, len(X), batch_rows))
    if bad:
        raise ValueError(
            f"The estimator's network outputs NaN or inf on {bad} of the {len(X)} rows of X; "
            "check X for extreme values and the network for overflow."
        )


def last_linear_layer(module):
    """The last ``nn.Linear`` or convolution in registration order."""
    layers = [m for m in module.modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))]
    if not layers:
        raise ValueError("The network has no Linear or convolution layer to read a representation from.")
    return layers[-1]


class LastLayerInput:
    """Records the input of the network's last layer: its penultimate representation.

    Use as a context manager; ``value`` holds the latest batch, flattened to
    (batch, features).

    Parameters
    ----------
    module : torch.nn.Module
    """

    def __init__(self, module):
        self.layer = last_linear_layer(module)
        self.value = None
        self._handle = None

    def _record(self, layer, inputs):
        self.value = inputs[0].flatten(1)

    def __enter__(self):
        self._handle = self.layer.register_forward_pre_hook(self._record)
        return self

    def __exit__(self, *exc):
        self._handle.remove()


def make_base_module(n_features, hidden=32, depth=10, dropout=0.2):
    """The base network of Savani et al.: ``depth`` blocks of Linear, BatchNorm, ReLU, Dropout.

    Parameters
    ----------
    n_features : int
    hidden : int, default=32
    depth : int, default=10
    dropout : float, default=0.2

    Returns
    -------
    torch.nn.Sequential
        Outputs one logit per row, shape (n, 1).
    """
    layers, width = [], n_features
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def train_base_network(X, y, *, epochs=10, batch_size=64, lr=1e-3, device="cpu",
                       random_state=0, n_threads=1, verbose=0):
    """Train the DESIGN §3 base network with skorch (Adam, batch 64, no early stopping).

    Parameters
    ----------
    X : ndarray of shape (n, d), float32
    y : ndarray of shape (n,), 0/1
    epochs : int, default=10
    batch_size : int, default=64
    lr : float, default=1e-3
    device : str, default="cpu"
    random_state : int, default=0
        Seeds the weights and the batch order.
    n_threads : int, default=1
        Torch threads for the training (the caller's setting is restored):
        the same seed then gives the same network on any machine of one kind.
    verbose : int, default=0
        Show a progress bar when positive.

    Returns
    -------
    skorch.NeuralNetBinaryClassifier
        Fitted.
    """
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    with torch.random.fork_rng(devices=[]), torch_threads(n_threads):
        torch.manual_seed(random_state)
        net = NeuralNetBinaryClassifier(
            make_base_module(X.shape[1]),
            max_epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            optimizer=torch.optim.Adam,
            train_split=None,
            iterator_train__shuffle=True,
            iterator_valid__batch_size=8192,
            device=device,
            verbose=0,
            callbacks=[SkorchProgress(EpochProgress(verbose)("base network", epochs))],
        )
        net.fit(X, y)
    return net


class ThresholdClassifier:
    """A binary network as a classifier: its class labels, and a threshold on the favourable probability.

    Parameters
    ----------
    network : FavourableLogit
    classes : array-like of shape (2,)
        Labels for the unfavourable and the favourable class.
    threshold : float, default=0.5
    """

    def __init__(self, network, classes, threshold=0.5):
        self.network, self.classes, self.threshold = network.eval(), np.asarray(classes), threshold

    def predict_proba(self, X):
        """Probabilities of the two classes, shape (n, 2)."""
        device = next(self.network.parameters()).device
        with torch.no_grad(), torch_threads(threads_for(self.network)):
            proba = torch.sigmoid(self.network(torch.as_tensor(np.asarray(X, dtype=np.float32), device=device)))
        proba = proba.cpu().numpy().astype(np.float64)
        return np.column_stack([1 - proba, proba])

    def predict(self, X):
        """Class labels: favourable where its probability exceeds the threshold."""
        return self.classes[(self.predict_proba(X)[:, 1] > self.threshold).astype(int)]


def as_classifier(estimator, input_shape, classes, *, threshold=0.5, input_offset=None, device="cpu"):
    """The user's network (anything :func:`resolve_network` takes) as a :class:`ThresholdClassifier`.

    Parameters
    ----------
    estimator : skorch net, FrozenEstimator of one, or torch.nn.Module
    input_shape : int or tuple of int
    classes : array-like of shape (2,)
    threshold : float, default=0.5
    input_offset : array-like of shape (n_features,), optional
        The input part of an ``offset`` edit (:attr:`FavourableLogit.input_offset`).
    device : str, default="cpu"

    Returns
    -------
    ThresholdClassifier
    """
    network = resolve_network(estimator, input_shape, device)
    if input_offset is not None:
        network.input_offset = torch.as_tensor(np.asarray(input_offset, dtype=np.float32), device=device)
    return ThresholdClassifier(network, classes, threshold)


def to_skorch(network, threshold=0.5, device="cpu"):
    """An initialised skorch classifier around a :class:`FavourableLogit`.

    Parameters
    ----------
    network : FavourableLogit
    threshold : float or None, default=0.5
        The binary decision threshold; None for a multi-class network.
    device : str, default="cpu"

    Returns
    -------
    skorch.NeuralNetBinaryClassifier or skorch.NeuralNetClassifier
        Binary, or multi-class with a cross-entropy criterion when
        ``threshold`` is None. Ready for ``predict_proba``, ``save_params``
        and ``partial_fit``; its module is ``network`` itself, with its
        trained weights.
    """
    if threshold is None:
        klass, specific = NeuralNetClassifier, {"criterion": nn.CrossEntropyLoss}
    else:
        klass, specific = NeuralNetBinaryClassifier, {"threshold": threshold}
    net = klass(
        network.eval(),
        **specific,
        optimizer=torch.optim.Adam,
        lr=1e-4,
        batch_size=64,
        iterator_valid__batch_size=8192,
        train_split=None,
        device=device,
        verbose=0,
    )
    return net.initialize()
