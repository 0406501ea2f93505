import copy

import pytest
import torch
from torch.func import functional_call

from skfairmask._rows import Rows
from skfairmask.masking import (
    MaskSettings,
    MASK_INIT,
    MaskLogits,
    density_regulariser,
    discover_mask,
    mask_density,
    mask_noise_std,
    stratified_batches,
    straight_through_mask,
)
from skfairmask.network import FavourableLogit, make_base_module
from conftest import state_hash


def test_straight_through_is_hard_forward_and_sigmoid_backward():
    logits = torch.tensor([-2.0, -0.1, 0.0, 0.3, 4.0], requires_grad=True)
    mask = straight_through_mask(logits)
    assert mask.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    mask.sum().backward()
    s = torch.sigmoid(logits.detach())
    torch.testing.assert_close(logits.grad, s * (1 - s))


def test_straight_through_adds_noise_before_thresholding():
    logits = torch.tensor([0.2, 0.2])
    assert straight_through_mask(logits, torch.tensor([-0.5, 0.5])).tolist() == [0.0, 1.0]


def test_noise_variance_is_half_the_logit_clipped_to_005_and_1():
    logits = torch.tensor([-3.0, 0.0, 0.05, 1.0, 2.0, 10.0])
    variance = mask_noise_std(logits) ** 2
    torch.testing.assert_close(variance, torch.tensor([0.05, 0.05, 0.05, 0.5, 1.0, 1.0]))


def test_density_is_global_not_per_layer():
    masks = [torch.ones(10), torch.zeros(30)]
    assert float(mask_density(masks)) == pytest.approx(0.25)  # per-layer mean would give 0.5


def test_regulariser_is_log_ratio_and_stops_at_tau():
    d = torch.tensor(0.5, requires_grad=True)
    value = density_regulariser(d, 0.1)
    value.backward()
    assert float(value.detach()) == pytest.approx(torch.log(torch.tensor(5.0)).item())
    assert float(d.grad) == pytest.approx(2.0)  # d/dd log(d/τ) = 1/d
    below = torch.tensor(0.05, requires_grad=True)
    floored = density_regulariser(below, 0.1)
    floored.backward()
    assert float(floored.detach()) == 0.0 and float(below.grad) == 0.0


def test_mask_starts_all_ones():
    logits = MaskLogits({"a": torch.Size([4, 3]), "b": torch.Size([2, 2])})
    assert all(m.all() for m in logits.hard().values())
    assert all(float(p.detach().min()) == MASK_INIT for p in logits.parameters())


def test_stratified_batches_cover_every_row_once_and_mix_strata():
    torch.manual_seed(0)
    y = torch.tensor([0.0] * 60 + [1.0] * 20 + [0.0] * 15 + [1.0] * 5)
    s = torch.tensor([0.0] * 80 + [1.0] * 20)
    batches = stratified_batches(y, s, batch_size=20)
    rows = torch.cat(batches)
    assert sorted(rows.tolist()) == list(range(100))
    for batch in batches:
        strata = (2 * s[batch] + y[batch]).long()
        # each stratum appears in every batch, near its overall share
        assert torch.bincount(strata, minlength=4).tolist() == [12, 4, 3, 1]


def test_discover_mask_leaves_network_unchanged_and_records_history(biased_data):
    torch.manual_seed(0)
    rows = Rows.from_arrays(*(a.astype("float32") for a in biased_data[1]))
    network = FavourableLogit(make_base_module(rows.X.shape[1], depth=3)).eval()
    before = state_hash(network)
    settings = MaskSettings(tau=0.01, beta=1.0, fairness_weight=1.0, epochs=3, lr=0.5, batch_size=128,
                            granularity="weight")
    result = discover_mask(network, rows, settings, bias_metric="spd")
    assert state_hash(network) == before
    assert set(result.masks) == {n for n, p in network.named_parameters() if p.dim() >= 2}
    assert all(m.dtype == torch.bool for m in result.masks.values())
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    assert {"loss", "density", "bias"} <= set(result.history[0])
    # a strong regulariser and a fast learning rate do prune
    assert result.history[-1]["density"] < 1.0


def test_masked_forward_uses_functional_call_without_rebuilding():
    network = FavourableLogit(make_base_module(3, depth=1)).eval()
    weight_name = "module.0.weight"
    zero = {weight_name: torch.zeros_like(dict(network.named_parameters())[weight_name])}
    copy_before = copy.deepcopy(network.state_dict())
    out = functional_call(network, zero, (torch.randn(4, 3),))
    # with the first layer zeroed, every row gives the same output
    assert torch.allclose(out, out[0].expand_as(out))
    assert all(torch.equal(copy_before[k], v) for k, v in network.state_dict().items())


def test_small_data_is_drawn_again_until_an_epoch_has_enough_batches():
    torch.manual_seed(0)
    y = torch.tensor([0.0, 1.0] * 50)
    s = torch.tensor([0.0] * 50 + [1.0] * 50)
    batches = stratified_batches(y, s, batch_size=20, min_batches=12)
    assert len(batches) >= 12
    rows = torch.cat(batches)
    assert set(rows.tolist()) == set(range(100))  # every row is drawn at least once
    assert all(len(b) == 20 for b in batches)  # the batch size is kept


def test_unit_masks_cover_whole_rows_except_in_the_head():
    shapes = {"hidden.weight": torch.Size([6, 4]), "conv.weight": torch.Size([5, 3, 2, 2]),
              "head.weight": torch.Size([1, 6])}
    logits = MaskLogits(shapes, granularity="unit")
    assert [tuple(p.shape) for p in logits.logits] == [(6, 1), (5, 1, 1, 1), (1, 6)]
    with torch.no_grad():
        logits.logits[0][2] = -1.0
        logits.logits[1][4] = -1.0
        logits.logits[2][0, 3] = -1.0
    hard = logits.hard()
    assert {n: tuple(m.shape) for n, m in hard.items()} == {n: tuple(s) for n, s in shapes.items()}
    assert hard["hidden.weight"].all(dim=1).tolist() == [True, True, False, True, True, True]
    assert not hard["hidden.weight"][2].any()
    assert not hard["conv.weight"][4].any() and hard["conv.weight"][:4].all()
    assert hard["head.weight"].sum() == 5  # the head is masked per weight
    sampled = logits.sample()
    assert {n: tuple(m.shape) for n, m in sampled.items()} == {n: tuple(s) for n, s in shapes.items()}
    row_constant = sampled["hidden.weight"] == sampled["hidden.weight"][:, :1]
    assert row_constant.all()


def test_a_batch_missing_a_stratum_keeps_gradients_finite():
    from skfairmask.masking import fairness_aware_loss

    logit = torch.randn(8, requires_grad=True)
    y = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    s = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0])  # no unprivileged positive
    for metric in ("eod", "aod"):
        loss = fairness_aware_loss(logit, y, s, metric, fairness_weight=3.0)
        (grad,) = torch.autograd.grad(loss, logit)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()


def test_a_non_finite_loss_names_the_phase_and_epoch():
    from skfairmask.masking import check_finite

    assert check_finite(0.25, "fine-tuning", 3) == 0.25
    with pytest.raises(FloatingPointError, match="fine-tuning became nan at epoch 3"):
        check_finite(float("nan"), "fine-tuning", 3)
