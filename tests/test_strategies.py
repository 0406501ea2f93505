"""The building blocks of the recovery strategies (the end-to-end runs are in test_debiaser)."""

import math

import numpy as np
import pytest
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.utils._param_validation import InvalidParameterError

from skfairmask import FairMaskDebiaser
from skfairmask.objective import FairnessObjective
from skfairmask._rows import Rows
from skfairmask.pruning import masked
from skfairmask.metrics import equal_opportunity_difference
from skfairmask.network import FavourableLogit, make_base_module
from skfairmask.strategies import STRATEGIES, DebiasData
from skfairmask.strategies._augmentation import MaskAugmentation
from skfairmask.strategies._distillation import DistillationLoss
from skfairmask.strategies._grafting import (
    NOISE_L1_GAIN,
    _internal_scion,
    _noise_scion,
    histogram_entropy,
    layer_graft_weight,
)
from skfairmask.strategies._search import _searched_rank


def test_noise_scion_has_a_larger_l1_norm_and_leaves_kept_weights():
    torch.manual_seed(0)
    weight = torch.randn(8, 5)
    mask = torch.rand(8, 5) > 0.3
    grafted = _noise_scion(weight, mask)
    torch.testing.assert_close(grafted[mask], weight[mask])
    replaced = weight[~mask].abs().sum()
    torch.testing.assert_close(grafted[~mask].abs().sum(), NOISE_L1_GAIN * replaced)
    assert not torch.equal(grafted[~mask], weight[~mask])


def test_internal_scion_copies_the_strongest_kept_row():
    weight = torch.tensor([[1.0, 1.0, 1.0], [5.0, -6.0, 7.0], [2.0, 2.0, 2.0]])
    mask = torch.tensor([[True, False, True], [True, True, True], [False, False, False]])
    grafted = _internal_scion(weight, mask)
    expected = torch.tensor([[1.0, -6.0, 1.0], [5.0, -6.0, 7.0], [5.0, -6.0, 7.0]])
    torch.testing.assert_close(grafted, expected)


def test_graft_weight_follows_the_entropy_difference_within_bounds():
    assert layer_graft_weight(1.0, 1.0) == 0.5
    assert 0.5 < layer_graft_weight(1.01, 1.0) < 0.7
    assert 0.3 < layer_graft_weight(1.0, 1.01) < 0.5
    assert layer_graft_weight(5.0, 0.0) == pytest.approx(0.7, abs=1e-3)
    assert layer_graft_weight(0.0, 5.0) == pytest.approx(0.3, abs=1e-3)


def test_histogram_entropy():
    assert histogram_entropy(torch.arange(10.0)) == pytest.approx(math.log(10))
    assert histogram_entropy(torch.tensor([0.0, 0.0, 1.0, 1.0])) == pytest.approx(math.log(2))


def test_augmentation_turns_corrupted_weights_on_only_inside_the_block():
    torch.manual_seed(0)
    layer = torch.nn.Linear(20, 10)
    network = torch.nn.Sequential(layer)
    masks = {"0.weight": torch.rand(10, 20) > 0.5}
    with masked(network, masks):
        _check_augmentation(network, layer, masks)
    assert torch.all(layer.weight[~masks["0.weight"]] == 0)


def _check_augmentation(network, layer, masks):
    buffer = layer.weight_mask
    augmentation = MaskAugmentation(network, masks, share=0.5)
    x = torch.randn(3, 20)
    network(x)
    assert torch.all(layer.weight[~masks["0.weight"]] == 0)
    with augmentation.widened():
        network(x)
        turned_on = (layer.weight[~masks["0.weight"]] != 0).float().mean()
        assert 0.3 < turned_on < 0.7
        assert torch.all(layer.weight[masks["0.weight"]] == layer.weight_orig[masks["0.weight"]])
    network(x)
    assert layer.weight_mask is buffer
    assert torch.all(layer.weight[~masks["0.weight"]] == 0)


def test_distillation_loss_adds_consistency_from_the_second_epoch():
    teacher = torch.tensor([0.9, 0.2, 0.6, 0.5])
    loss = DistillationLoss(teacher, consistency_weight=2.0)
    index = torch.tensor([0, 2])
    first_logit = torch.tensor([0.5, -0.5])
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    torch.testing.assert_close(loss(first_logit, index), bce(first_logit, teacher[index]))
    loss(torch.tensor([1.0, 1.0]), torch.tensor([1, 3]))
    loss.end_epoch()
    logit = torch.tensor([0.0, 0.0])
    previous = torch.sigmoid(first_logit)
    torch.testing.assert_close(loss(logit, index), bce(logit, teacher[index]) + 2.0 * bce(logit, previous))


def test_distill_prune_mimics_its_teacher_without_a_density_push(biased_data, base_net, fast):
    deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy="distill_prune", teacher="prune", **fast)
    deb.fit(*biased_data[1][:2], sensitive=biased_data[1][2])
    assert {"teacher_mask_discovery", "mask_discovery"} <= set(deb.history_)
    assert "teacher" in deb.timings_
    params = dict(deb.net_.module_.module.named_parameters())
    original = dict(base_net.module_.named_parameters())
    for name, mask in deb.mask_.items():
        # a sub-network of the pre-trained one: kept weights unchanged, the others zero
        torch.testing.assert_close(params[name][mask], original[name][mask])
        assert torch.all(params[name][~mask] == 0)


def test_distill_prune_cannot_teach_itself(biased_data, base_net):
    deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy="distill_prune", teacher="distill_prune")
    with pytest.raises(InvalidParameterError, match="teacher"):
        deb.fit(*biased_data[1][:2], sensitive=biased_data[1][2])


@pytest.mark.parametrize("loss", ["critic", "surrogate", "both"])
def test_each_finetune_loss_lowers_bias_and_keeps_pruned_weights_zero(loss, biased_data, base_net, fast):
    deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy="prune_advft", finetune_loss=loss,
                           bias_metric="eod", **fast)
    deb.fit(*biased_data[1][:2], sensitive=biased_data[1][2])
    X, y, A = biased_data[2]
    base_gap = abs(equal_opportunity_difference(y, base_net.predict(X), sensitive=A))
    assert abs(equal_opportunity_difference(y, deb.predict(X), sensitive=A)) < base_gap / 2
    params = dict(deb.net_.module_.module.named_parameters())
    assert all(torch.all(params[n][~m] == 0) for n, m in deb.mask_.items())
    critic_losses = [r["critic_loss"] for r in deb.history_["finetune"]]
    assert (max(critic_losses) == 0) == (loss == "surrogate")


def test_unit_granularity_prunes_whole_units(biased_data, base_net, fast):
    deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy="prune", mask_granularity="unit", **fast)
    deb.fit(*biased_data[1][:2], sensitive=biased_data[1][2])
    *hidden, head = deb.mask_
    for name in hidden:
        mask = deb.mask_[name]
        assert torch.equal(mask.all(dim=1), mask.any(dim=1)), f"{name}: rows are kept or pruned whole"
    assert any(not deb.mask_[n].all() for n in hidden)
    params = dict(deb.net_.module_.module.named_parameters())
    assert all(torch.all(params[n][~m] == 0) for n, m in deb.mask_.items())


@pytest.mark.parametrize("strategy", ["random_perturbation", "layerwise_opt"])
def test_gradient_free_search_never_scores_below_the_start(strategy, biased_data, base_net):
    torch.manual_seed(0)
    X, y, A = (np.asarray(a, dtype=np.float32) for a in biased_data[1])
    rows = Rows.from_arrays(X, y, A)
    data = DebiasData(train=rows[:500], selection=rows[500:650], safety=rows[650:])
    settings = FairMaskDebiaser(bias_metric="spd")._settings(FairnessObjective())
    network = FavourableLogit(make_base_module(X.shape[1])).eval()
    network.load_state_dict({f"module.{k}": v for k, v in base_net.module_.state_dict().items()})
    start = _searched_rank(network, data, settings)
    result = STRATEGIES[strategy].run(network, data, settings, lambda phase, total: lambda record: None)
    assert _searched_rank(result.network, data, settings) >= start
    assert result.history["search"]
