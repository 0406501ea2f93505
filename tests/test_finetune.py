"""The fine-tuning loop's parts."""

import torch

from skfairmask.finetune import _FrozenPass
from skfairmask.network import FavourableLogit, LastLayerInput, make_base_module


def test_one_pass_over_all_rows_gives_what_a_pass_per_batch_gives():
    torch.manual_seed(0)
    network = FavourableLogit(make_base_module(5, hidden=8, depth=3)).eval()
    X = torch.randn(100, 5)
    index = torch.randint(0, 100, (16,))
    with LastLayerInput(network) as representation:
        whole = _FrozenPass(network, representation, X, rows_needed=64)    # 100 rows <= 2 * 64
        per_batch = _FrozenPass(network, representation, X, rows_needed=8)  # 100 rows > 2 * 8
        assert whole.whole is not None and per_batch.whole is None
        output, features = whole(index)
        expected_output, expected_features = per_batch(index)
    assert output.shape == (16,) and features.shape == (16, 8)
    torch.testing.assert_close(output, expected_output)
    torch.testing.assert_close(features, expected_features)
