import hashlib

import numpy as np
import pytest
import torch
from hypothesis import settings
from torch import nn

from skfairmask.datasets import make_biased_classification
from skfairmask.network import train_base_network

# Property tests draw the same examples on every run, as the rest of the suite does.
settings.register_profile("deterministic", derandomize=True, deadline=None)
settings.load_profile("deterministic")


@pytest.fixture(scope="session")
def biased_data():
    """Train / debias / test parts of a synthetic dataset built to be biased."""
    X, y, A = make_biased_classification(n_samples=3000, random_state=0)
    return (X[:1500], y[:1500], A[:1500]), (X[1500:2300], y[1500:2300], A[1500:2300]), (X[2300:], y[2300:], A[2300:])


@pytest.fixture(scope="session")
def base_net(biased_data):
    """A fitted skorch NeuralNetBinaryClassifier (the DESIGN §3 MLP), unfair on the data."""
    X, y, _ = biased_data[0]
    return train_base_network(X, y, epochs=20, random_state=0)


@pytest.fixture(scope="session")
def uncertifiable():
    """300 rows on which no rule better than a constant can be certified, but accurate rules look fair.

    The group (the last column) is unrelated to the labels and the network
    scores the first column, which predicts them: every rule is fair in the
    population, but 147 safety rows cannot certify ``|SPD| < 0.05`` for a rule
    of useful accuracy, while on all 300 rows one's bound is under it.
    Returns ``(X, y, A, network)``.
    """
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    A = (rng.random(300) < 0.5).astype(int)
    X[:, -1] = A
    y = (rng.random(300) < 1 / (1 + np.exp(-2 * X[:, 0]))).astype(int)
    network = nn.Linear(4, 1)
    with torch.no_grad():
        network.weight.copy_(torch.tensor([[2.0, 0.0, 0.0, 0.0]]))
        network.bias.zero_()
    return X, y, A, network


def state_hash(module):
    """A digest of every tensor in a module's state_dict."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


@pytest.fixture
def fast():
    """Settings that keep a fit to a second or two on the synthetic data.

    The default mask learning rate is tuned for Adult's thousands of rows; on
    a few hundred rows a larger rate and smaller batches let logits cross zero
    within three epochs, so the pruning strategies do prune.
    """
    return dict(epochs=3, lr=0.3, beta=0.5, batch_size=64, finetune_epochs=3, random_state=0)
