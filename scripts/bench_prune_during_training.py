#!/usr/bin/env python
"""Cost of the methods that prune during training: Network Slimming, SSS, SFP.

Per-step overhead versus plain training on the same model (batch of random 32x32 images):
plain and method steps alternate, so machine load hits both alike; the figure is the median
step time with the method over the median without, and the hook's own time per step.
Then the one-off costs: Network Slimming's pruning (global threshold + surgery) of
PreResNet-164 and DenseNet-40, SFP's zeroing at an epoch end, SSS's block removal.

    python scripts/bench_prune_during_training.py [--steps 10] [--batch-size 64] [--threads N]
    python scripts/bench_prune_during_training.py --imagenet [--batch-size 16]   # VGG-11 / ResNet-50 at 224
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from common.models import build_model
from common.pruning.soft_filter import SoftFilterPruningHook, remove_zero_filters, soft_prune_
from common.pruning.slimming import SparsityHook, slimming_prune
from common.pruning.sss import SparseStructureHook, sss_prune


class _Trainer:  # what the hooks read from the engine's trainer
    lr, epoch = 0.1, 0


def _step(model, opt, x, y, hooks, hook_time):
    out = model(x)
    loss = F.cross_entropy(out, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    t = time.perf_counter()
    for h in hooks:
        h.after_backward(_Trainer)
    hook_time.append(time.perf_counter() - t)
    opt.step()
    t = time.perf_counter()
    for h in hooks:
        h.after_step(_Trainer)
    hook_time[-1] += time.perf_counter() - t


def step_overhead(arch, make_hook, steps, batch, in_channels=3, size=32, classes=10):
    """Median step time plain vs with the method's hook (alternating), and the hook's own time."""
    torch.manual_seed(0)
    plain = build_model(arch, classes, in_channels)
    hooked = copy.deepcopy(plain)
    hooks = [make_hook(hooked)]
    opts = [torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4) for m in (plain, hooked)]
    x = torch.randn(batch, in_channels, size, size)
    y = torch.randint(0, classes, (batch,))
    times = ([], [])
    own = []
    for i in range(steps + 1):
        for k, (model, opt) in enumerate(zip((plain, hooked), opts)):
            t = time.perf_counter()
            _step(model, opt, x, y, hooks if k else [], own if k else [])
            if i:  # the first round warms up
                times[k].append(time.perf_counter() - t)
    p, h = statistics.median(times[0]), statistics.median(times[1])
    return p, h, statistics.median(own[1:])


def timed(fn, repeat=3):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def sparse_bn(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                v = torch.rand(m.num_features, generator=g)
                v[torch.rand(m.num_features, generator=g) < 0.5] *= 1e-3
                m.weight.copy_(v)
    return model


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10, help="timed steps per variant (default 10)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--quick", action="store_true", help="small models only (a smoke run)")
    p.add_argument("--imagenet", action="store_true", help="step overheads of VGG-11 (slimming) and ResNet-50 (SSS) "
                                                           "at 224x224, 1000 classes")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch {args.batch_size}, "
          f"{args.steps} steps per variant\n")

    cases = [("slimming", "vgg19", lambda m: SparsityHook(m, 1e-4)),
             ("slimming", "preresnet164", lambda m: SparsityHook(m, 1e-5)),
             ("slimming", "densenet40", lambda m: SparsityHook(m, 1e-5)),
             ("sss", "resnet56", lambda m: SparseStructureHook(m, 0.01)),
             ("sss", "preresnet164", lambda m: SparseStructureHook(m, 0.01))]
    size, classes = 32, 10
    if args.quick:
        cases = [("slimming", "preresnet20", lambda m: SparsityHook(m, 1e-5)),
                 ("sss", "resnet20", lambda m: SparseStructureHook(m, 0.01))]
    if args.imagenet:
        cases = [("slimming", "vgg11_bn_slimming", lambda m: SparsityHook(m, 1e-5)),
                 ("sss", "resnet50", lambda m: SparseStructureHook(m, 0.01))]
        size, classes = 224, 1000
    print("| method | model | plain step (s) | with method (s) | overhead | hook's own time per step |")
    print("|---|---|---|---|---|---|")
    for method, arch, make in cases:
        plain, hooked, own = step_overhead(arch, make, args.steps, args.batch_size, size=size, classes=classes)
        print(f"| {method} | {arch} | {plain:.3f} | {hooked:.3f} | {100 * (hooked / plain - 1):+.1f}% | "
              f"{1e3 * own:.2f} ms ({100 * own / plain:.2f}%) |", flush=True)
    if args.imagenet:
        return

    print("\n| one-off cost | model | seconds |")
    print("|---|---|---|")
    for arch in (("preresnet20",) if args.quick else ("preresnet164", "densenet40")):
        model = sparse_bn(build_model(arch, 10)).eval()
        t, (pruned, report) = timed(lambda: slimming_prune(model, 0.4))
        print(f"| slimming prune (threshold + surgery), 40% of {report['channels_total']} channels | {arch} | "
              f"{t:.3f} |", flush=True)
    for arch in ("resnet56", "resnet110") if not args.quick else ("resnet20",):
        model = build_model(arch, 10)
        hook = SoftFilterPruningHook(model, 0.3)
        t, _ = timed(lambda: hook.on_epoch_end(_Trainer, 0))
        print(f"| SFP zeroing at an epoch end (rate 0.3) | {arch} | {t:.4f} |")
        soft_prune_(model, 0.3)
        t, _ = timed(lambda: remove_zero_filters(model))
        print(f"| SFP removal of zero filters | {arch} | {t:.3f} |")
    for arch in ("resnet56", "preresnet164") if not args.quick else ("resnet20",):
        model = build_model(arch, 10)
        blocks = [b.block for b in model.residual_branches()]
        lam = torch.rand(len(blocks))
        lam[::3] = 0
        t, _ = timed(lambda: sss_prune(model, blocks, lam))
        print(f"| SSS removal of {int((lam == 0).sum())} of {len(blocks)} blocks | {arch} | {t:.3f} |")


if __name__ == "__main__":
    main()
