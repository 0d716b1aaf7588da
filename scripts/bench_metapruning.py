"""MetaPruning costs: each PruningNet's parameter count and peak memory, one PruningNet training step and one
fitness evaluation (generate + BN re-estimation + held-out top-1), and what the search adds to its fitness
evaluations (candidate generation, constraint checks, cache).

    python scripts/bench_metapruning.py [--archs mobilenet_v2 ...] [--batch 8] [--size 224] [--device cpu]

Each arch runs in its own process, so its peak memory (max RSS on the CPU, max allocated on CUDA) is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import torch
import torch.nn.functional as F

ARCHS = ("mobilenet_v1", "mobilenet_v2", "resnet50_stages")


def one(arch: str, batch: int, size: int, device: str, heldout: int) -> dict:
    from common.pruning.metapruning import (Constraint, EncodingSampler, EvolutionarySearch, NetworkCounter, PruningNet,
                                            fitness, search_space)
    dev = torch.device(device)
    space = search_space(arch)
    t0 = time.perf_counter()
    net = PruningNet(space, 1000).to(dev)
    build_s = time.perf_counter() - t0
    params = sum(p.numel() for p in net.parameters())
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    sampler = EncodingSampler(net, 0)
    x, y = torch.randn(batch, 3, size, size, device=dev), torch.randint(0, 1000, (batch,), device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    times = []
    for i in range(3):
        sync()
        t0 = time.perf_counter()
        sampler.before_forward(None)
        loss = F.cross_entropy(net(x), y, label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sync()
        times.append(time.perf_counter() - t0)
    del opt
    recal = [torch.randn(batch, 3, size, size, device=dev) for _ in range(2)]
    held = [(torch.randn(batch, 3, size, size, device=dev), torch.randint(0, 1000, (batch,), device=dev))
            for _ in range(heldout // batch)]
    encoding = tuple([15] * len(space.genes))
    t0 = time.perf_counter()
    fitness(net, encoding, recal, held, dev)
    sync()
    fitness_s = time.perf_counter() - t0
    # the search with fitness replaced by a constant: what the search itself costs per evaluated candidate
    counter = NetworkCounter(arch, space.base, 1000, 3, (3, size, size))
    lo = sum(x.ours for x in counter.layers(space.cfg([0] * len(space.genes))))
    hi = sum(x.ours for x in counter.layers(list(space.base)))
    constraint = Constraint(max_flops=lo + 0.3 * (hi - lo))
    with TemporaryDirectory() as tmp:
        search = EvolutionarySearch(space, lambda e: 1.0, lambda e: constraint.figures(counter.layers(space.cfg(e)),
                                                                                         None),
                                    constraint, Path(tmp) / "cache.jsonl", iterations=20, log=lambda *a: None)
        result = search.run()
    per_candidate = result["search_s"] / result["evaluated"]
    peak = (torch.cuda.max_memory_allocated(dev) / 2 ** 30 if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20)
    return {"arch": arch, "pruningnet_params": params, "build_s": round(build_s, 2), "peak_gib": round(peak, 2),
            "train_step_s": round(min(times), 3), "fitness_s": round(fitness_s, 3), "heldout_images": len(held) * batch,
            "search_s_per_candidate": round(per_candidate, 5), "candidates": result["evaluated"],
            "search_overhead_pct_of_fitness": round(100 * per_candidate / fitness_s, 3)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--archs", nargs="+", default=list(ARCHS))
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--heldout", type=int, default=64, help="held-out images of the fitness evaluation")
    p.add_argument("--device", default="cpu")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.batch, args.size, args.device, args.heldout)))
        return
    print(f"MetaPruning costs on {args.device}, {args.size}x{args.size}, batch {args.batch} (1000 classes)")
    for arch in args.archs:
        proc = subprocess.run([sys.executable, __file__, "--one", arch, "--batch", str(args.batch), "--size",
                               str(args.size), "--device", args.device, "--heldout", str(args.heldout)],
                              capture_output=True, text=True)
        if proc.returncode:
            print(f"{arch}: failed: {proc.stderr.strip().splitlines()[-1]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{arch:16s} PruningNet {r['pruningnet_params'] / 1e6:8.1f} M params, peak {r['peak_gib']:6.2f} GiB | "
              f"train step {r['train_step_s']:.3f} s | fitness ({r['heldout_images']} held-out images) "
              f"{r['fitness_s']:.3f} s | search {1000 * r['search_s_per_candidate']:.2f} ms per candidate "
              f"({r['candidates']} candidates) = {r['search_overhead_pct_of_fitness']:.2f}% of a fitness evaluation")


if __name__ == "__main__":
    main()
