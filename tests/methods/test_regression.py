"""LASSO channel selection + least squares (He et al. 2017) on problems whose answer is known."""

import pytest
import torch

from common.errors import UserError
from common.flops import count_flops
from common.models import build_model
from common.pruning.regression import lasso, lasso_problem, plan_widths, reconstruct, regression_prune, select_channels


def _planted(scales, seed=0, rows=3000, support=(2, 5, 11, 17, 20), noise=1e-2):
    """Correlated columns ``Z`` with the given scales, ``y = Z beta + noise``, beta supported on ``support``."""
    g = torch.Generator().manual_seed(seed)
    c = scales.numel()
    mix = torch.eye(c, dtype=torch.float64) + 0.3 * torch.randn(c, c, generator=g, dtype=torch.float64) / c ** 0.5
    z = torch.randn(rows, c, generator=g, dtype=torch.float64) @ mix * scales
    beta = torch.zeros(c, dtype=torch.float64)
    beta[list(support)] = torch.tensor([1.0, -0.7, 1.3, 0.9, -1.1], dtype=torch.float64) / scales[list(support)]
    y = z @ beta + noise * torch.randn(rows, generator=g, dtype=torch.float64)
    return z.T @ z / rows, z.T @ y / rows, beta


def test_lasso_solution_satisfies_the_optimality_conditions():
    gram, rhs, _ = _planted(torch.logspace(-2, 1, 24, dtype=torch.float64))   # scales over three decades
    alpha = 0.05 * float(rhs.abs().max())
    beta = lasso(gram, rhs, alpha, tol=1e-10, max_iter=20000)
    grad = gram @ beta - rhs                               # subgradient condition of the LASSO
    on, off = beta != 0, beta == 0
    assert on.any() and off.any()
    torch.testing.assert_close(grad[on], -alpha * beta[on].sign(), rtol=0, atol=1e-6 * alpha + 1e-9)
    assert float(grad[off].abs().max()) <= alpha * (1 + 1e-6)
    assert int((lasso(gram, rhs, 1.0001 * float(rhs.abs().max())) != 0).sum()) == 0   # alpha_max gives 0


def test_lasso_selection_recovers_a_planted_support():
    order = torch.randperm(24, generator=torch.Generator().manual_seed(9))
    scales = torch.linspace(0.5, 2.0, 24, dtype=torch.float64)[order]                # comparable column norms
    gram, rhs, beta = _planted(scales)
    kept, alpha, coef = select_channels(gram, rhs, 5)
    assert kept.tolist() == [2, 5, 11, 17, 20]
    assert alpha > 0 and int((coef != 0).sum()) == 5      # the bisection met the count exactly


def test_lasso_problem_is_the_vectorised_regression_of_eq3():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(7, 4, 9, generator=g)                  # N samples, c channels, k
    w = torch.randn(5, 4, 9, generator=g)                  # n filters
    y = torch.randn(7, 5, generator=g)
    gram, rhs = lasso_problem(x, w, y, chunk=3)
    z = torch.stack([x[:, i] @ w[:, i].T for i in range(4)], -1).reshape(35, 4)   # column i = vec(X_i W_i^T)
    torch.testing.assert_close(gram, (z.T @ z).double() / 35, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(rhs, (z.T @ y.flatten()).double() / 35, rtol=1e-5, atol=1e-6)


def test_least_squares_recovers_the_weights_and_bias_exactly():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2000, 6, 9, generator=g)
    w_true = torch.randn(5, 3, 9, generator=g)
    b_true = torch.randn(5, generator=g)
    kept = torch.tensor([0, 3, 4])
    y = torch.einsum("sck,nck->sn", x[:, kept], w_true) + b_true
    prior = torch.randn(5, 3, 9, generator=g)
    for ridge in (0.0, "auto"):
        w, b, lam, heldout = reconstruct(x, y, kept, True, prior, ridge=ridge)
        assert lam == 0.0                                   # noiseless: the held-out error picks no shrinkage
        torch.testing.assert_close(w, w_true, rtol=1e-3, atol=1e-3)
        torch.testing.assert_close(b, b_true, rtol=1e-3, atol=1e-3)
    assert heldout["chosen"] < 1e-8 < heldout["prior"]


def test_ridge_toward_the_original_weights_helps_when_samples_are_few():
    # 300 rows for 270 unknowns: plain least squares overfits, shrinking toward the true-ish prior does not
    g = torch.Generator().manual_seed(5)
    x = torch.randn(300, 30, 9, generator=g)
    w_true = torch.randn(4, 30, 9, generator=g)
    y = torch.einsum("sck,nck->sn", x, w_true) + 3.0 * torch.randn(300, 4, generator=g)
    prior = w_true + 0.05 * torch.randn(4, 30, 9, generator=g)
    w, _, lam, heldout = reconstruct(x, y, torch.arange(30), False, prior)
    assert lam > 0 and heldout["chosen"] < heldout["plain"]
    assert (w - w_true).norm() < reconstruct(x, y, torch.arange(30), False, prior, ridge=0.0)[0].sub(w_true).norm()


def test_plan_widths_hits_the_speedup_with_the_paper_ratio():
    vgg = build_model("vgg16_mlp", 10, 3)
    widths = plan_widths(vgg, 2.0, (3, 32, 32))
    assert list(widths) == vgg.conv_names()[:10]           # conv1_1 .. conv4_3; conv5_x keep 512
    assert widths["features.0"] == widths["features.3"] == 37 and widths["features.24"] == 442
    assert 442 / 512 == pytest.approx(1.5 * 37 / 64, abs=0.01)
    cfg = list(vgg.cfg)
    for g in vgg.channel_groups():
        cfg[g.cfg_index] = widths.get(g.name, g.size)
    ratio = count_flops(vgg, (3, 32, 32)) / count_flops(build_model("vgg16_mlp", 10, 3, cfg), (3, 32, 32))
    assert 2.0 <= ratio < 2.05
    resnet = build_model("resnet56", 10, 3)
    assert set(plan_widths(resnet, 2.0, (3, 32, 32)).values()) == {8, 16, 31}
    with pytest.raises(UserError, match="out of reach"):
        plan_widths(vgg, 50.0, (3, 32, 32))
    with pytest.raises(UserError, match="must be > 1"):
        plan_widths(vgg, 1.0, (3, 32, 32))
    with pytest.raises(UserError, match="needs a registered model"):
        plan_widths(torch.nn.Linear(2, 2), 2.0, (3, 32, 32))


def _batches(n=3, size=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(size, 1, 32, 32, generator=g) for _ in range(n)]


def test_regression_keeps_the_output_exactly_when_no_channel_is_removed():
    torch.manual_seed(0)
    model = build_model("vgg11", 10, 1, [6, "M", 6, "M", 6, 6, "M", 6, 6, "M", 6, 6]).eval()
    batches = _batches()
    # the first conv group, and the last one, read by the linear head (which has a bias)
    pruned, report = regression_prune(model, batches, widths={"features.0": 6, "features.25": 6}, ridge=0.0,
                                      log=lambda s: None)
    assert [row["consumer"] for row in report] == ["features.4", "classifier.0"]
    assert all(row["error_unpruned"] < 1e-10 and row["error_after_ls"] < 1e-8 for row in report)
    with torch.no_grad():
        for x in batches:
            torch.testing.assert_close(pruned(x), model(x), rtol=1e-3, atol=1e-4)


def test_residual_target_makes_the_pruned_resnet_closer_to_the_original(monkeypatch):
    torch.manual_seed(0)
    model = build_model("resnet20", 10, 1, [8] * 9).eval()
    batches, held_out = _batches(n=3, size=40), _batches(n=1, size=60, seed=1)[0]
    widths = {g.name: 4 for g in model.channel_groups()}

    def logit_error(pruned):
        with torch.no_grad():
            want = model(held_out)
            return float((pruned(held_out) - want).square().sum() / want.square().sum())

    before = {k: v.clone() for k, v in model.state_dict().items()}
    corrected, report = regression_prune(model, batches, widths=widths, log=lambda s: None)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())   # the input is left alone
    assert [row["residual"] for row in report] == [True] * 9
    monkeypatch.setattr(model, "residual_branches", lambda: [])     # no block is seen as residual
    plain, _ = regression_prune(model, batches, widths=widths, log=lambda s: None)
    assert corrected.cfg == plain.cfg == [4] * 9
    assert logit_error(corrected) < 0.9 * logit_error(plain)


def test_regression_bad_locations():
    model = build_model("vgg11", 10, 1, [6, "M", 6, "M", 6, 6, "M", 6, 6, "M", 6, 6]).eval()
    with pytest.raises(UserError, match=r"more than the 4 output positions \(2x2\) per image of layer features.25"):
        regression_prune(model, _batches(n=1, size=2), widths={"features.22": 3}, locations=5)
