import numpy as np
import pytest

from skfairmask.datasets import load_adult, load_compas, load_german, protocol_split


@pytest.mark.parametrize(
    "loader, protected, shape, privileged_share",
    [
        (load_adult, "sex", (45222, 98), 0.675),
        (load_adult, "race", (45222, 98), 0.860),
        (load_compas, "race", (6167, 401), 0.341),
        (load_german, "age", (1000, 58), 0.810),
    ],
)
def test_offline_loaders_match_aif360_shapes(loader, protected, shape, privileged_share):
    X, y, A = loader(protected)
    assert X.shape == shape  # AIF360 0.6.1 with the same raw files gives these
    assert set(np.unique(y)) == {0, 1} and set(np.unique(A)) == {0, 1}
    assert A.mean() == pytest.approx(privileged_share, abs=1e-3)
    # the protected attribute is kept as a feature, binarised like AIF360 does
    np.testing.assert_array_equal(X[protected].to_numpy(), A.to_numpy())


def test_as_aif360_returns_a_binary_label_dataset():
    from aif360.datasets import BinaryLabelDataset

    dataset = load_german("sex", as_aif360=True)
    assert isinstance(dataset, BinaryLabelDataset)
    assert dataset.features.shape == (1000, 58)
    assert dataset.favorable_label == 1.0


def test_unknown_protected_attribute_is_named():
    with pytest.raises(ValueError, match="protected must be one of"):
        load_german("income")


def test_protocol_split_is_60_20_20_and_scaled_on_train():
    X, y, A = load_german("age")
    split = protocol_split(X, y, A, random_state=0)
    sizes = [len(part[1]) for part in (split.train, split.validation, split.test)]
    assert sizes == [600, 200, 200]
    np.testing.assert_allclose(split.train[0].mean(axis=0), 0, atol=1e-5)
    assert split.test[0].dtype == np.float32
