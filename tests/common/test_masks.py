"""Keep-masks (common.masks), the engine keeping them applied, non-zero FLOPs, and exact
global / layer-wise magnitude selection (common.pruning.weight_level)."""

import pytest
import torch
import torch.nn as nn

from common.data import DeviceLoader
from common.engine import TrainConfig, Trainer
from common.errors import UserError
from common.flops import count_flops, count_params
from common.masks import (MaskKeeper, apply_mask_, check_mask, kept_params, prunable_weights, sparse_kaiming_init_,
                          sparsity)
from common.models import build_model
from common.pruning.weight_level import (keep_all_but_smallest, magnitude_prune, prune_fraction_of_remaining,
                                      prune_to_sparsity)

TINY = [8, "M", 16, "M", 16, 16, "M", 32, 32, "M", 32, 32]


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return build_model("vgg11", 10, 1, TINY)


def synthetic_loaders(n=96, batch=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 1, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    mk = lambda train: DeviceLoader(x, y, batch, (0.5,), (0.25,), train=train, seed=seed)  # noqa: E731
    return mk(True), mk(False)


def random_mask(model, density=0.5, seed=0, kinds=("conv", "linear")):
    g = torch.Generator().manual_seed(seed)
    return {n: torch.rand(w.shape, generator=g) < density for n, w in prunable_weights(model, kinds).items()}


# ----------------------------------------------------------------------------- engine keeps masks

def test_pruned_weights_stay_exactly_zero_through_training(tmp_path):
    model = tiny_model()
    mask = random_mask(model)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    train, test = synthetic_loaders(n=96, batch=16)            # 6 steps per epoch, 30 steps in all
    cfg = TrainConfig(epochs=5, lr=0.1, momentum=0.9, weight_decay=5e-3, nesterov=True, no_progress=True)
    trainer = Trainer(model, train, test, cfg, tmp_path / "run", {"dataset": "x", "method": "m", "arm": "a"},
                      mask=mask)
    # optimizer state carried over from a dense run: a non-zero momentum everywhere
    for p in model.parameters():
        trainer.optimizer.state[p]["momentum_buffer"] = torch.ones_like(p)
    trainer.set_mask(mask)
    result = trainer.fit()
    params = dict(model.named_parameters())
    for n, m in mask.items():
        assert torch.count_nonzero(params[n][~m]) == 0, n                  # exactly zero
        assert torch.count_nonzero(trainer.optimizer.state[params[n]]["momentum_buffer"][~m]) == 0
        assert not torch.equal(params[n][m], before[n][m] * 1.0), n          # survivors did train
    assert result["sparsity"] == pytest.approx(sparsity(mask))
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert set(ckpt["mask"]) == set(mask) and all(torch.equal(ckpt["mask"][n], mask[n]) for n in mask)
    assert result["params"] == sum(p.numel() for p in model.parameters()) - sum(int((~m).sum()) for m in mask.values())


def test_resume_restores_the_mask(tmp_path):
    model = tiny_model()
    mask = random_mask(model, 0.3)
    train, test = synthetic_loaders()
    meta = {"dataset": "x", "method": "m", "arm": "a"}
    Trainer(model, train, test, TrainConfig(epochs=1, lr=0.05, no_progress=True), tmp_path, meta, mask=mask).fit()
    fresh = tiny_model(1)
    t = Trainer(fresh, train, test, TrainConfig(epochs=2, lr=0.05, no_progress=True), tmp_path, meta, resume=True)
    assert t.mask is not None and all(torch.equal(t.mask[n], mask[n]) for n in mask)
    t.fit()
    params = dict(fresh.named_parameters())
    assert all(torch.count_nonzero(params[n][~m]) == 0 for n, m in mask.items())


def test_mask_keeper_is_exact_on_grads_and_weights():
    model = tiny_model()
    mask = random_mask(model)
    keeper = MaskKeeper(model, mask)
    model(torch.randn(4, 1, 32, 32)).sum().backward()
    keeper.mask_grads()
    keeper.apply()
    for n, p in model.named_parameters():
        if n in mask:
            assert torch.count_nonzero(p.grad[~mask[n]]) == 0
            assert torch.count_nonzero(p[~mask[n]]) == 0


def test_check_mask_rejects_a_mask_that_does_not_fit():
    model = tiny_model()
    good = random_mask(model)
    check_mask(model, good)
    name = next(iter(good))
    with pytest.raises(UserError, match="has no parameter"):
        check_mask(model, {**good, "features.99.weight": good[name]})
    with pytest.raises(UserError, match="does not match the model"):
        check_mask(model, {name: good[name][:1]})
    with pytest.raises(UserError, match="not a bool tensor"):
        check_mask(model, {name: good[name].float()})


# ----------------------------------------------------------------------------- non-zero FLOPs

class HandNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)   # 18 weights, 4x4 output
        self.fc = nn.Linear(32, 3)                               # 96 weights, 3 biases

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))


def test_nonzero_flops_and_params_of_a_hand_made_masked_net():
    net = HandNet()
    with torch.no_grad():
        net.conv.weight.fill_(1.0)
        net.fc.weight.fill_(1.0)
        net.fc.bias.fill_(1.0)
    assert count_flops(net, (1, 4, 4)) == 18 * 16 + 96                 # 384 dense MACs
    conv_keep = torch.zeros(2, 1, 3, 3, dtype=torch.bool)
    conv_keep.view(-1)[[0, 4, 8, 9, 17]] = True                        # 5 conv weights left
    fc_keep = torch.zeros(3, 32, dtype=torch.bool)
    fc_keep[:, :10] = True
    fc_keep[0, 10:20] = True                                           # 40 linear weights left
    mask = {"conv.weight": conv_keep, "fc.weight": fc_keep}
    apply_mask_(net, mask)
    assert count_flops(net, (1, 4, 4), nonzero=True) == 5 * 16 + 40    # 120
    assert count_params(net, nonzero=True) == 5 + 40 + 3
    with torch.no_grad():
        net.fc.bias[0] = 0.0                                            # a kept entry that is 0
    assert kept_params(net, mask) == 5 + 40 + 3 and count_params(net, nonzero=True) == 5 + 40 + 2


def test_sparse_kaiming_init_scales_by_the_surviving_fan_out():
    torch.manual_seed(0)
    conv = nn.Conv2d(64, 64, 3, bias=False)
    net = nn.Sequential(conv)
    keep = torch.rand(conv.weight.shape) < 0.25
    sparse_kaiming_init_(net, {"0.weight": keep})
    n = int(keep.sum()) / 64                                          # nnz / C_in
    assert conv.weight[keep].std().item() == pytest.approx((2.0 / n) ** 0.5, rel=0.05)
    assert torch.count_nonzero(conv.weight[~keep]) == 0


# ----------------------------------------------------------------------------- magnitude selection

def test_exact_count_with_ties_lower_index_first():
    scores = torch.tensor([3.0, 1.0, 2.0, 1.0, 1.0, 5.0, 1.0, 2.0])
    keep = keep_all_but_smallest(scores, 3)
    # four entries tie at 1.0; the three with the lowest indices go
    assert keep.tolist() == [True, False, True, False, False, True, True, True]
    alive = torch.tensor([True, False, True, True, True, True, True, True])
    keep = keep_all_but_smallest(scores, 3, alive)
    assert keep.tolist() == [True, False, True, False, False, True, False, True]
    assert keep_all_but_smallest(scores, 0).all() and not keep_all_but_smallest(scores, 8).any()


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.5, 0.29, 0.95])
def test_global_threshold_prunes_exactly_the_fraction_even_with_ties(fraction):
    g = torch.Generator().manual_seed(1)
    weights = {"a": torch.randint(-3, 4, (10, 7), generator=g).float(),      # heavy ties
               "b": torch.randint(-3, 4, (33,), generator=g).float()}
    mask = prune_fraction_of_remaining(weights, fraction)
    n = 70 + 33
    assert n - sum(int(m.sum()) for m in mask.values()) == round(fraction * n)
    # every pruned magnitude <= every kept magnitude
    pruned = torch.cat([w[~mask[k]].abs() for k, w in weights.items()])
    kept = torch.cat([w[mask[k]].abs() for k, w in weights.items()])
    if pruned.numel() and kept.numel():
        assert pruned.max() <= kept.min()


def test_iterative_pruning_removes_a_fraction_of_the_remaining_and_keeps_old_holes():
    torch.manual_seed(0)
    weights = {"a": torch.randn(40, 25), "b": torch.randn(1000)}
    mask = prune_fraction_of_remaining(weights, 0.2)
    assert sparsity(mask) == pytest.approx(0.2)
    second = prune_fraction_of_remaining(weights, 0.2, mask)
    assert sum(int(m.sum()) for m in second.values()) == 1600 - 320      # 2000 weights: 20% of 2000, then of 1600
    assert all(not (second[k] & ~mask[k]).any() for k in mask)          # nothing grows back
    # the weights are not zeroed here, so the holes are not simply the smallest values again
    again = prune_to_sparsity(weights, 0.5, second)
    assert sparsity(again) == pytest.approx(0.5) and all(not (again[k] & ~second[k]).any() for k in mask)
    with pytest.raises(UserError, match="already"):
        prune_to_sparsity(weights, 0.1, second)


def test_layerwise_scope_prunes_every_tensor_by_the_fraction():
    torch.manual_seed(0)
    weights = {"a": torch.randn(50), "b": torch.randn(8, 25) * 100}
    g = prune_to_sparsity(weights, 0.4, scope="global")
    layer = prune_to_sparsity(weights, 0.4, scope="layer")
    assert int((~g["a"]).sum()) == 50 and int((~g["b"]).sum()) == 50   # globally the small tensor goes first
    assert int((~layer["a"]).sum()) == 20 and int((~layer["b"]).sum()) == 80


def test_magnitude_prune_masks_only_conv_weights_and_zeroes_them():
    model = tiny_model()
    mask, report = magnitude_prune(model, 0.6)
    convs = prunable_weights(model, ("conv",))
    assert set(mask) == set(convs)
    n = sum(w.numel() for w in convs.values())
    assert sum(int((w == 0).sum()) for w in convs.values()) == round(0.6 * n)
    assert report["sparsity"] == pytest.approx(round(0.6 * n) / n)
    assert torch.count_nonzero(model.classifier[0].weight) == model.classifier[0].weight.numel()
    with pytest.raises(UserError, match=r"\[0, 1\)"):
        magnitude_prune(model, 1.0)
