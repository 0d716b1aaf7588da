"""First-order Taylor pruning (Molchanov et al., ICLR 2017): the criterion against a hand computation (finite
differences of the loss), the pruned network against the zeroed full one, and the entry points end to end."""

import copy
import json

import pytest
import torch
import torch.nn.functional as F
from helpers import assert_one_line_error, run_entry, write_cifar10

from common.models import build_model
from common.pruning.criteria import activation_module, taylor
from common.pruning.l1_norm import plan_keep_counts
from common.pruning.selection import keep_top
from common.pruning.surgery import prune_channels, zero_channels

TINY = [8, 8, "M", 16, 16, "M", 16, 16, 16, "M", 16, 16, 16, "M", 16, 16, 16]


def _net(arch="vgg16_mlp", cfg=TINY, seed=0):
    torch.manual_seed(seed)
    model = build_model(arch, 10, 3, cfg).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):      # non-trivial statistics, so eval mode is a real test
                m.running_mean.copy_(torch.randn(m.num_features, generator=g, dtype=torch.float64) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g, dtype=torch.float64) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g, dtype=torch.float64) * 0.3)
    return model.eval()


def _scaled_loss(model, group, x, y, image, channel, factor):
    """The batch's mean cross-entropy with channel ``channel`` of image ``image`` scaled by ``factor`` where the
    group's channels leave (its BN output)."""
    def scale(module, inputs, out):
        out = out.clone()
        out[image, channel] *= factor
        return out
    handle = dict(model.named_modules())[activation_module(group)].register_forward_hook(scale)
    try:
        with torch.no_grad():
            return F.cross_entropy(model(x), y).item()
    finally:
        handle.remove()


@pytest.mark.parametrize("arch,cfg,which", [("vgg16_mlp", TINY, (0, 7)), ("resnet20", None, (0, 4))])
def test_scores_equal_the_loss_derivative_by_finite_differences(arch, cfg, which):
    """d C / d alpha at alpha = 1, for z_k scaled by alpha, is sum_m dC/dz_{k,m} z_{k,m}: the Taylor term. The
    score of channel k is |that / M| summed over the images."""
    model = _net(arch, cfg)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 3, 32, 32, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (3,), generator=g)
    scores = taylor(model, [(x, y)])
    groups = model.channel_groups()
    eps = 1e-6
    for gi in which:
        group = groups[gi]
        shapes = {}
        handle = dict(model.named_modules())[activation_module(group)].register_forward_hook(
            lambda m, i, o: shapes.update(z=o.shape))
        with torch.no_grad():
            model(x)
        handle.remove()
        positions = shapes["z"][2] * shapes["z"][3]
        by_hand = torch.zeros(group.size, dtype=torch.float64)
        for c in range(group.size):
            for i in range(len(x)):
                up = _scaled_loss(model, group, x, y, i, c, 1 + eps)
                down = _scaled_loss(model, group, x, y, i, c, 1 - eps)
                by_hand[c] += abs((up - down) / (2 * eps)) / positions
        assert torch.allclose(scores[group.name].double(), by_hand, rtol=1e-4, atol=1e-9), (group.name, scores[
            group.name], by_hand)
        assert by_hand.max() > 0


def test_scores_add_over_batches_and_normalise_per_layer():
    model = _net()
    g = torch.Generator().manual_seed(2)
    batches = [(torch.randn(2, 3, 32, 32, generator=g, dtype=torch.float64), torch.randint(0, 10, (2,), generator=g))
               for _ in range(2)]
    both = taylor(model, batches)
    parts = [taylor(model, [b]) for b in batches]
    for name in both:
        assert torch.allclose(both[name], parts[0][name] + parts[1][name], rtol=1e-5)
    normed = taylor(model, batches, normalise=True)
    for name, s in normed.items():
        assert s.norm().item() == pytest.approx(1.0, rel=1e-5)
    assert all(p.grad is None for p in model.parameters())       # the criterion leaves no gradients behind


@pytest.mark.parametrize("arch,cfg,variant", [("vgg16_mlp", TINY, "A"), ("resnet56", None, "B")])
def test_pruned_network_equals_the_zeroed_full_network(arch, cfg, variant):
    model = _net(arch, cfg).float()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 3, 32, 32, generator=g)
    scores = taylor(model, [(x, torch.randint(0, 10, (4,), generator=g))])
    kept = keep_top(scores, plan_keep_counts(model, variant))
    pruned = prune_channels(model, kept).eval()
    zeroed = zero_channels(copy.deepcopy(model), kept)
    with torch.no_grad():
        assert torch.allclose(pruned(x), zeroed(x), atol=1e-5)
        assert not torch.allclose(pruned(x), model(x), rtol=1e-2, atol=0)      # pruning changed something
    assert list(pruned.cfg) != list(model.cfg)
    counts = plan_keep_counts(model, variant)
    assert all(pruned.cfg[g.cfg_index] == counts[g.name] for g in model.channel_groups() if g.name in counts)


def test_prune_entry_point_and_bad_flags(tmp_path):
    write_cifar10(tmp_path / "data", n_per_batch=40, n_test=40)
    cfg = json.dumps(TINY)
    base = run_entry("cifar/l1-norm/main.py", "--arch", "vgg16_mlp", "--cfg", cfg, "--epochs", "1", "--data-dir",
                     tmp_path / "data", "--no-progress", "--save", tmp_path / "base")
    assert base.returncode == 0, base.stderr[-2000:]
    ckpt = tmp_path / "base" / "checkpoint.pt"
    proc = run_entry("cifar/taylor/prune.py", "--checkpoint", ckpt, "--data-dir", tmp_path / "data", "--images", "40",
                     "--save", tmp_path / "A")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "A" / "result.json").read_text())
    assert result["method"] == "taylor" and result["variant"] == "A" and result["report"]["images"] == 40
    assert result["cfg"] == [4, 8, "M", 16, 16, "M", 16, 16, 16, "M", 8, 8, 8, "M", 8, 8, 8]
    proc = run_entry("cifar/taylor/prune.py", "--checkpoint", ckpt, "--data-dir", tmp_path / "data", "--images", "40",
                     "--percent", "0.3", "--save", tmp_path / "p")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "p" / "result.json").read_text())
    total = result["report"]["channels_total"]
    assert total == sum(w for w in TINY if w != "M") and result["report"]["channels_kept"] == total - int(0.3 * total)
    assert_one_line_error(run_entry("cifar/taylor/prune.py", "--checkpoint", ckpt, "--variant", "A", "--ratio", "0.5",
                                    "--data-dir", tmp_path / "data", "--save", tmp_path / "bad"),
                          "give one of --variant, --ratio, --percent")
    assert not (tmp_path / "bad").exists()
