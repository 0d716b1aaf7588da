"""MetaPruning (Liu et al., ICCV 2019): the declaration. The algorithm is ``common/pruning/metapruning.py``.

``main.py`` trains the PruningNet (arm ``pruningnet``); ``prune.py`` runs the evolutionary search under a
FLOPs and/or latency constraint and writes the winner with its PruningNet-generated weights (BN statistics
re-estimated); ``main_finetune.py`` fine-tunes those weights; ``main_scratch.py`` trains the found
architecture from scratch -- Scratch-E is the method's own final step (spec B.5).
"""

from __future__ import annotations

import platform

import torch

from common.cli import fraction, non_negative_float, positive_float, positive_int, resolve_device
from common.data import dataset_info, holdout_indices, set_epoch
from common.errors import UserError
from common.models import check_kind
from common.methods.base import Method, Pruned, Pruning, Retraining, Table, Training
from common.pruning.metapruning import (SEARCH_ARCHS, Constraint, EncodingSampler, EvolutionarySearch, LatencyTable,
                                        NetworkCounter, PruningNet, fitness, flops_range, generate, recalibrate_bn,
                                        search_space, uniform_encoding)
from common.runs import RUNS_ROOT


def _holdout_default(info) -> int:
    return 50 * info.num_classes          # the authors' sub-validation split: 50 images per class


def train_flags(p):
    p.add_argument("--width", type=positive_float, default=1.0,
                   help="the search space's base widths x this (small-scale runs; default 1)")
    p.add_argument("--holdout", type=positive_int, default=None,
                   help="training images held out for the search's fitness, never trained on (default 50 per class)")
    smoothing_flag(p)


def smoothing_flag(p):
    p.add_argument("--label-smoothing", type=fraction, default=0.1, help="of the training loss (default 0.1)")


def train_resolve(args):
    if args.arch not in SEARCH_ARCHS:
        raise UserError(f"MetaPruning has no search space for {args.arch}; choose one of: {', '.join(SEARCH_ARCHS)}")
    if args.cfg is not None:
        raise UserError("the PruningNet spans every width of its search space; --cfg does not apply (see --width)")
    if args.holdout is None:
        args.holdout = _holdout_default(dataset_info(args.dataset))


def pruningnet_of(args, info) -> PruningNet:
    return PruningNet(search_space(args.arch, args.width), info.num_classes, info.in_channels)


# ----------------------------------------------------------------------------- prune.py: the search

def prune_flags(p):
    g = p.add_argument_group("constraint (at least one bound)")
    g.add_argument("--max-mflops", type=positive_float, default=None, help="at most this many million FLOPs")
    g.add_argument("--min-mflops", type=non_negative_float, default=None, help="at least this many million FLOPs")
    g.add_argument("--flops-counter", choices=("ours", "authors"), default="ours",
                   help="ours: conv and linear multiply-accumulates (common.flops); authors: cal_FLOPs.py's, which "
                        "adds biases, BN, ReLU and pooling elements -- use it with the authors' targets")
    g.add_argument("--max-latency-ms", type=positive_float, default=None,
                   help="at most this latency, summed from a per-layer table measured on --device")
    g.add_argument("--min-latency-ms", type=non_negative_float, default=None)
    g.add_argument("--latency-batch", type=positive_int, default=1, help="batch size of the latency table")
    g = p.add_argument_group("search (defaults: the authors')")
    g.add_argument("--population", type=positive_int, default=50)
    g.add_argument("--parents", type=positive_int, default=10, help="top-k of the pool that breed")
    g.add_argument("--mutations", type=positive_int, default=25)
    g.add_argument("--crossovers", type=positive_int, default=25)
    g.add_argument("--mutation-prob", type=fraction, default=0.1)
    g.add_argument("--iterations", type=positive_int, default=20)
    g.add_argument("--recal-batches", type=positive_int, default=100,
                   help="training batches (of --batch-size) that re-estimate a candidate's BN statistics (default 100)")
    g.add_argument("--uniform", action="store_true",
                   help="no search: the widest uniform width that meets the constraint (the paper's baseline)")
    g.add_argument("--encoding", default=None, help="no search: this encoding (comma-separated gene values 0..30)")


def _mflops_tag(args) -> str:
    parts = []
    if args.max_mflops is not None or args.min_mflops is not None:
        lo = f"{args.min_mflops:g}-" if args.min_mflops is not None else ""
        hi = f"{args.max_mflops:g}" if args.max_mflops is not None else "inf"
        parts.append(f"f{lo}{hi}M" + ("a" if args.flops_counter == "authors" else ""))
    if args.max_latency_ms is not None or args.min_latency_ms is not None:
        lo = f"{args.min_latency_ms:g}-" if args.min_latency_ms is not None else ""
        parts.append(f"l{lo}{args.max_latency_ms if args.max_latency_ms is not None else 'inf'}ms")
    if args.encoding:
        parts.append("given")
    return "-".join(parts) + ("-uniform" if args.uniform else "")


def prune_resolve(args, ckpt):
    if ckpt["arm"] != "pruningnet":
        raise UserError(f"{args.checkpoint} is a {ckpt['arm']} run, not a PruningNet; train one with main.py")
    if not args.encoding and all(getattr(args, k) is None for k in ("max_mflops", "min_mflops", "max_latency_ms",
                                                                     "min_latency_ms")):
        raise UserError("give a constraint: --max-mflops and/or --max-latency-ms (or --encoding)")
    for lo, hi in (("min_mflops", "max_mflops"), ("min_latency_ms", "max_latency_ms")):
        if getattr(args, lo) is not None and getattr(args, hi) is not None and getattr(args, lo) > getattr(args, hi):
            raise UserError(f"--{lo.replace('_', '-')} is above --{hi.replace('_', '-')}")
    if args.encoding:
        try:
            args.encoding = ",".join(str(int(g)) for g in args.encoding.replace(" ", "").split(","))
        except ValueError:
            raise UserError(f"--encoding {args.encoding!r}: give the gene values as comma-separated integers 0..30") \
                from None
    args.holdout = ckpt["args"]["holdout"]
    args.width = ckpt["args"]["width"]


def load_pruningnet(args, ckpt) -> PruningNet:
    arch = ckpt["arch"]
    if arch not in SEARCH_ARCHS or "width" not in ckpt["args"]:
        raise UserError(f"{args.checkpoint} is not a MetaPruning PruningNet checkpoint")
    check_kind(arch, dataset_info(ckpt["dataset"]).kind, ckpt["dataset"])
    net = PruningNet(search_space(arch, ckpt["args"]["width"]), ckpt["num_classes"], ckpt["in_channels"])
    try:
        net.load_state_dict(ckpt["state_dict"])
    except RuntimeError:
        raise UserError(f"{args.checkpoint} does not hold a PruningNet of {arch} at width "
                        f"{ckpt['args']['width']}") from None
    return net


def check(args, net, input_size):
    """The FLOPs bounds against the smallest and the largest network of the space (before any data is read)."""
    if args.encoding:
        net.space.check(args.encoding.split(","))
    counter = counter_of(net, input_size)
    lo, hi = flops_range(net.space, counter, args.flops_counter)
    if args.max_mflops is not None and args.max_mflops * 1e6 < lo:
        raise UserError(f"--max-mflops {args.max_mflops:g} is below the smallest network of the space "
                        f"({lo / 1e6:.2f} M, {args.flops_counter} counter)")
    if args.min_mflops is not None and args.min_mflops * 1e6 > hi:
        raise UserError(f"--min-mflops {args.min_mflops:g} is above the largest network of the space "
                        f"({hi / 1e6:.2f} M)")
    if args.max_mflops is not None and args.max_mflops * 1e6 >= hi:
        raise UserError(f"--max-mflops {args.max_mflops:g} is not below the largest network of the space "
                        f"({hi / 1e6:.2f} M, {args.flops_counter} counter): nothing to prune")


_COUNTERS: dict = {}


def counter_of(net, input_size) -> NetworkCounter:
    key = (net.arch, tuple(net.space.base), net.num_classes, net.in_channels, tuple(input_size))
    if key not in _COUNTERS:
        _COUNTERS[key] = NetworkCounter(net.arch, net.space.base, net.num_classes, net.in_channels, input_size)
    return _COUNTERS[key]


class _FirstBatches:
    """The first ``n`` batches of a training loader, epoch 0's order every time (the same images for
    every candidate), on ``device``."""

    def __init__(self, loader, n, device):
        self.loader, self.n, self.device = loader, n, device

    def __iter__(self):
        set_epoch(self.loader, 0)
        for i, (x, _) in enumerate(self.loader):
            if i == self.n:
                return
            yield x.to(self.device, non_blocking=True)


def _device_name(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device).replace(" ", "_")
    return f"cpu-{platform.machine()}-{torch.get_num_threads()}threads"


def prune(args, net, ckpt, data) -> Pruned:
    device = resolve_device(args.device)
    info = dataset_info(args.dataset)
    counter = counter_of(net, data.input_size)
    constraint = Constraint(None if args.min_mflops is None else args.min_mflops * 1e6,
                            None if args.max_mflops is None else args.max_mflops * 1e6, args.flops_counter,
                            args.min_latency_ms, args.max_latency_ms)
    latency = None
    if args.max_latency_ms is not None or args.min_latency_ms is not None:
        size = "x".join(map(str, data.input_size))
        latency = LatencyTable(RUNS_ROOT / "latency" / f"{_device_name(device)}-{size}-b{args.latency_batch}.json",
                               device, args.latency_batch)

    def figures(encoding):
        return constraint.figures(counter.layers(net.space.cfg(encoding)), latency)

    heldout = dataset_info(args.dataset).subset(info, args.data_dir, holdout_indices(info, args.data_dir, args.holdout),
                                                args.test_batch_size, device,
                                                **({"image_size": args.image_size} if args.image_size else {}))
    recal = _FirstBatches(data.train, args.recal_batches, device)
    net.to(device)

    def evaluate(encoding):
        return fitness(net, encoding, recal, heldout, device)

    if args.encoding or args.uniform:
        if args.encoding:
            encoding = net.space.check(args.encoding.split(","))
        else:
            encoding = uniform_encoding(net.space, lambda e: constraint.met(figures(e)))
        result = {"encoding": list(encoding), "error": evaluate(encoding), **figures(encoding)}
    else:
        search = EvolutionarySearch(net.space, evaluate, figures, constraint, data.folder / "search_cache.jsonl",
                                    seed=args.seed, population=args.population, parents=args.parents,
                                    mutations=args.mutations, crossovers=args.crossovers,
                                    mutation_prob=args.mutation_prob, iterations=args.iterations)
        result = search.run()
        print(f"search: {result['evaluated']} candidates evaluated ({result['cache_hits']} from the cache), "
              f"{result['fitness_s']:.1f} s in fitness, {result['overhead_s']:.2f} s elsewhere "
              f"({100 * result['overhead_s'] / max(result['fitness_s'], 1e-9):.2f}%); best held-out error "
              f"{result['error']:.2f}% vs {result['median_random_error']:.2f}% for the median random candidate")
    encoding = tuple(result["encoding"])
    model = generate(net, encoding)
    recalibrate_bn(model, recal)
    hours = {"pruningnet_hours": round(ckpt.get("elapsed", 0.0) / 3600, 4),
             "search_hours": round(result.get("search_s", 0.0) / 3600, 4), "device": _device_name(device)}
    if latency is not None:
        hours["latency_table_s"] = round(latency.measured_s, 2)
    print(f"encoding {list(encoding)} -> cfg {model.cfg}")
    return Pruned(model, {**result, "cfg": list(model.cfg), "constraint": vars(constraint), "cost": hours,
                          "holdout": args.holdout})


# ----------------------------------------------------------------------------- the table

def table(t):
    """The paper's Table: per model and FLOPs target, the searched network and the uniform baseline at the same
    constraint, each fine-tuned (generated weights) and trained from scratch (E and B)."""
    targets = [f"{_mflops(m):g}" for m in t.opts.mflops.split()] or DEFAULT_TARGETS[t.tree]
    for seed in t.seeds:
        for arch in t.archs:
            pnet = t.train(arch, seed, arm="pruningnet", epochs=t.opts.pruningnet_epochs or PNET_EPOCHS[t.tree],
                           cfg=False, flags=["--width", f"{t.opts.width:g}",
                                             *(["--holdout", t.opts.holdout] if t.opts.holdout else [])])
            for target in targets:
                flops = ["--max-mflops", target, *t.opts.search_flags.split()]
                t.retrain(t.prune(pnet, f"f{float(target):g}M", flags=flops))
                t.retrain(t.prune(pnet, f"f{float(target):g}M-uniform", flags=[*flops, "--uniform"]))


DEFAULT_TARGETS = {"cifar": ["40"], "imagenet": ["300", "140", "43"]}     # CIFAR: ours; ImageNet: the authors' MBv2
PNET_EPOCHS = {"cifar": 40, "imagenet": 64}


def _mflops(text) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UserError(f"--mflops: {text!r} is not a positive number of million FLOPs")
    return value


def table_flags(p):
    p.add_argument("--mflops", default="", help="FLOPs targets in millions (default: CIFAR 40; ImageNet 300 140 43)")
    p.add_argument("--width", type=positive_float, default=1.0,
                   help="the search space's base widths x this (default 1)")
    p.add_argument("--holdout", type=positive_int, default=None,
                   help="training images held out for the search (default 50 per class)")
    p.add_argument("--pruningnet-epochs", type=positive_int, default=None,
                   help="PruningNet training epochs (default CIFAR 40, ImageNet 64)")
    p.add_argument("--search-flags", default="", help="more prune.py flags, e.g. '--iterations 5 --population 20'")


METHOD = Method(
    name="metapruning", title="MetaPruning: Meta Learning for Automatic Neural Network Channel Pruning (Liu et al., "
                              "ICCV 2019)",
    trainings={"main": Training(flags=train_flags, resolve=train_resolve, model=pruningnet_of, arm="pruningnet",
                                hooks=lambda args, model: [EncodingSampler(model, args.seed)])},
    pruning=Pruning(run=prune, load=load_pruningnet, flags=prune_flags, resolve=prune_resolve, check=check,
                    variant=lambda args, ckpt: _mflops_tag(args)),
    finetune=Retraining(flags=smoothing_flag),
    scratch=Retraining(flags=smoothing_flag),
    table=Table(table, archs={"cifar": ["mobilenet_v2_cifar"], "imagenet": ["mobilenet_v2"]},
                epochs={"cifar": 160, "imagenet": 256}, ft_epochs={"cifar": 40, "imagenet": 20}, flags=table_flags,
                seeds={"cifar": 1, "imagenet": 1}),
)
