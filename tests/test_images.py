"""Convolutional networks on images (n, channels, height, width): masks per weight and per filter, every strategy."""

import numpy as np
import pytest
import torch
from skorch import NeuralNetBinaryClassifier
from sklearn.frozen import FrozenEstimator
from torch import nn

from skfairmask import FairMaskDebiaser
from skfairmask.metrics import statistical_parity_difference
from skfairmask.strategies import STRATEGIES
from conftest import state_hash


class TinyCNN(nn.Module):
    """Two convolutions with BatchNorm, a residual block, global pooling, a linear head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(6, 6, 3, padding=1), nn.BatchNorm2d(6))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 1))

    def forward(self, X):
        out = self.stem(X)
        out = torch.relu(out + self.block(out))  # residual
        return self.head(out).squeeze(-1)


def _biased_images(n, seed):
    """8×8 colour images whose label shows in the red channel and whose group brightens the green one."""
    rng = np.random.default_rng(seed)
    A = (rng.random(n) < 0.5).astype(int)
    signal = rng.normal(size=n)
    y = (signal + 1.5 * (A - 0.5) + rng.normal(scale=0.5, size=n) > 0).astype(int)
    X = rng.normal(scale=0.5, size=(n, 3, 8, 8)).astype(np.float32)
    X[:, 0] += signal[:, None, None]
    X[:, 1] += 1.5 * A[:, None, None]  # the group is visible, and the labels are skewed by it
    return X, y, A


@pytest.fixture(scope="module")
def images():
    return _biased_images(1400, 0)


@pytest.fixture(scope="module")
def cnn(images):
    X, y, _ = images
    torch.manual_seed(0)
    net = NeuralNetBinaryClassifier(TinyCNN, max_epochs=15, lr=0.01, optimizer=torch.optim.Adam,
                                    batch_size=64, train_split=None, verbose=0)
    return net.fit(X[:600], y[:600].astype(np.float32))


@pytest.mark.parametrize("strategy", sorted(set(STRATEGIES) - {"quantile"}))  # quantile needs a column of X
def test_every_strategy_runs_on_a_cnn(strategy, images, cnn):
    X, y, A = images
    before = state_hash(cnn.module_)
    deb = FairMaskDebiaser(FrozenEstimator(cnn), strategy=strategy, epochs=3, lr=0.3, beta=0.5,
                           batch_size=64, finetune_epochs=2, random_state=0)
    deb.fit(X[600:1100], y[600:1100], sensitive=A[600:1100])
    assert deb.input_shape_ == (3, 8, 8)
    proba = deb.predict_proba(X[1100:])
    assert proba.shape == (300, 2) and np.isfinite(proba).all()
    assert state_hash(cnn.module_) == before
    params = dict(deb.net_.module_.module.named_parameters())
    assert {"stem.0.weight", "block.0.weight", "head.2.weight"} <= set(deb.mask_)
    if STRATEGIES[deb.strategy_].prunes:
        for name, mask in deb.mask_.items():
            assert torch.all(params[name][~mask] == 0)


def test_debiasing_a_cnn_lowers_its_bias(images, cnn):
    X, y, A = images
    base = abs(statistical_parity_difference(y[1100:], cnn.predict(X[1100:]), sensitive=A[1100:]))
    deb = FairMaskDebiaser(FrozenEstimator(cnn), epochs=3, lr=0.3, beta=0.5, batch_size=64,
                           finetune_epochs=4, random_state=0).fit(X[600:1100], y[600:1100], sensitive=A[600:1100])
    after = abs(statistical_parity_difference(y[1100:], deb.predict(X[1100:]), sensitive=A[1100:]))
    assert base > 0.2 and after < base / 2


def test_filter_masks_keep_or_prune_whole_output_channels(images, cnn):
    X, y, A = images
    deb = FairMaskDebiaser(FrozenEstimator(cnn), strategy="prune", mask_granularity="unit", epochs=3,
                           lr=0.5, beta=1.0, batch_size=64, random_state=0)
    deb.fit(X[600:1100], y[600:1100], sensitive=A[600:1100])
    for name in ("stem.0.weight", "block.0.weight"):
        mask = deb.mask_[name]
        assert mask.dim() == 4 and mask.shape[2:] == (3, 3)
        assert torch.equal(mask.flatten(1).all(dim=1), mask.flatten(1).any(dim=1)), "whole filters only"
    assert any(not deb.mask_[n].flatten(1).all(dim=1).all() for n in ("stem.0.weight", "block.0.weight"))


def test_images_of_another_shape_are_refused(images, cnn):
    X, y, A = images
    deb = FairMaskDebiaser(FrozenEstimator(cnn), strategy="none", random_state=0)
    deb.fit(X[600:1100], y[600:1100], sensitive=A[600:1100])
    with pytest.raises(ValueError, match=r"rows of shape \(3, 4, 4\)"):
        deb.predict(X[:5, :, :4, :4])
    with pytest.raises(ValueError, match="cannot take X with rows of shape"):
        FairMaskDebiaser(FrozenEstimator(cnn)).fit(X[600:1100, :2], y[600:1100], sensitive=A[600:1100])


def test_make_skewed_has_the_exact_proportions():
    from skfairmask.datasets import grayscale, make_skewed

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 100)
    images = rng.integers(0, 256, size=(1000, 3, 4, 4)).astype(np.uint8)
    split = make_skewed(images, labels, ratio=0.9, test_size=0.2, random_state=0)
    assert len(split.colour_majority) == 5
    for label in range(10):
        in_class = split.y_train == label
        assert in_class.sum() == 80
        colour = split.domain_train[in_class].sum()
        assert colour == (72 if label in split.colour_majority else 8)
    assert split.domain_train.mean() == 0.5  # balanced overall
    is_gray = (split.X_train[:, 0] == split.X_train[:, 1]).all(axis=(1, 2)) & \
              (split.X_train[:, 1] == split.X_train[:, 2]).all(axis=(1, 2))
    np.testing.assert_array_equal(is_gray, split.domain_train == 0)
    assert len(split.y_test) == 200
    np.testing.assert_array_equal(split.X_test_gray, grayscale(split.X_test_colour))


def _fake_cifar_folder(folder, n_per_batch=6):
    import pickle

    rng = np.random.default_rng(0)
    folder.mkdir()
    for name in ["data_batch_1", "data_batch_2", "test_batch"]:
        batch = {b"data": rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, size=n_per_batch)], b"batch_label": b"fake"}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return folder


def test_load_cifar10_reads_the_python_batches(tmp_path):
    from skfairmask.datasets import load_cifar10

    X_train, y_train, X_test, y_test = load_cifar10(_fake_cifar_folder(tmp_path / "cifar-10-batches-py"))
    assert X_train.shape == (12, 3, 32, 32) and X_train.dtype == np.uint8
    assert y_train.shape == (12,) and X_test.shape == (6, 3, 32, 32) and y_test.shape == (6,)
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 python batches"):
        load_cifar10(tmp_path)


def test_a_tampered_cifar_batch_cannot_run_code(tmp_path):
    import pickle

    from skfairmask.datasets import load_cifar10

    folder = _fake_cifar_folder(tmp_path / "cifar")
    marker = tmp_path / "code-ran"

    class RunsCode:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": RunsCode(), b"labels": []}))
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        load_cifar10(folder)
    assert not marker.exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_cnn_is_debiased_on_cuda_end_to_end(images, cnn):
    X, y, A = images
    deb = FairMaskDebiaser(FrozenEstimator(cnn), epochs=3, lr=0.3, beta=0.5, batch_size=64,
                           finetune_epochs=2, device="cuda", random_state=0)
    deb.fit(X[600:1100], y[600:1100], sensitive=A[600:1100])
    assert all(p.is_cuda for p in deb.net_.module_.parameters())
    proba = deb.predict_proba(X[1100:])
    assert proba.shape == (300, 2) and np.isfinite(proba).all()
    assert 0.0 <= deb.score(X[1100:], y[1100:], sensitive=A[1100:]) <= 1.0
    assert next(cnn.module_.parameters()).device.type == "cpu"  # the user's network stays where it was


def test_torch_tensors_are_taken_as_numpy_arrays(images, cnn):
    X, y, A = images
    fitted = {
        kind: FairMaskDebiaser(FrozenEstimator(cnn), strategy="none", random_state=0)
        .fit(convert(X[600:1100]), convert(y[600:1100]), sensitive=convert(A[600:1100]))
        for kind, convert in (("numpy", np.asarray), ("torch", torch.as_tensor))
    }
    np.testing.assert_array_equal(fitted["numpy"].predict(X[1100:]),
                                  fitted["torch"].predict(torch.as_tensor(X[1100:])))
