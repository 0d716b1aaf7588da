"""MetaPruning (Liu et al., ICCV 2019): the declaration. The algorithm is ``common/pruning/metapruning.py``.

``main.py`` trains the PruningNet (arm ``pruningnet``); ``prune.py`` runs the evolutionary search under a
FLOPs and/or latency constraint and writes the winner with its PruningNet-generated weights (BN statistics
re-estimated); ``main_finetune.py`` fine-tunes those weights; ``main_scratch.py`` trains the found
architecture from scratch -- Scratch-E is the method's own final step (spec B.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


from common.data import dataset_info, holdout_indices, set_epoch
from common.distributed import device_name, resolve_device
from common.errors import UserError
from common.methods.base import Method, Pruned, Training, register_method
from common.models import check_kind
from common.pruning.metapruning import (SEARCH_ARCHS, Constraint, EncodingSampler, EvolutionarySearch, LatencyTable,
                                        NetworkCounter, PruningNet, authors_flops, fitness, flops_range, generate,
                                        recalibrate_bn, search_space, uniform_encoding)
from common.runs import RUNS_ROOT
from common.settings import Settings, derived, flag, fraction, non_negative_float, positive_float, positive_int


def _holdout_default(info) -> int:
    return 50 * info.num_classes          # the authors' sub-validation split: 50 images per class


@dataclass(frozen=True)
class LabelSmoothing(Settings):
    label_smoothing: float = flag(0.1, "of the training loss (default 0.1)", type=fraction)


@dataclass(frozen=True)
class PruningNetSettings(LabelSmoothing):
    width: float = flag(1.0, "the search space's base widths x this (small-scale runs; default 1)",
                        type=positive_float)
    holdout: Optional[int] = flag(None, "training images held out for the search's fitness, never trained on "
                                        "(default 50 per class)", type=positive_int)


class PruningNetTraining(Training):
    """main.py trains the PruningNet (Sec. 3.2): a new random encoding every batch, weights generated for it."""

    settings = PruningNetSettings

    def resolve(self, s):
        if s.arch not in SEARCH_ARCHS:
            raise UserError(f"MetaPruning has no search space for {s.arch}; choose one of: {', '.join(SEARCH_ARCHS)}")
        if s.cfg is not None:
            raise UserError("the PruningNet spans every width of its search space; --cfg does not apply (see --width)")
        return s.replace(holdout=_holdout_default(dataset_info(s.dataset))) if s.holdout is None else s

    def arm(self, s):
        return "pruningnet"

    def network(self, s, dataset):
        return PruningNet(search_space(s.arch, s.width), dataset.num_classes, dataset.in_channels)

    def hooks(self, s, model):
        return [EncodingSampler(model, s.seed)]


# ----------------------------------------------------------------------------- prune.py: the search

@dataclass(frozen=True)
class SearchSettings(Settings):
    max_mflops: Optional[float] = flag(None, "at most this many million FLOPs", type=positive_float)
    min_mflops: Optional[float] = flag(None, "at least this many million FLOPs", type=non_negative_float)
    flops_counter: str = flag("ours", "ours: conv and linear multiply-accumulates (common.flops); authors: "
                                      "cal_FLOPs.py's, which adds biases, BN, ReLU and pooling elements -- use it with "
                                      "the authors' targets", choices=("ours", "authors"))
    max_latency_ms: Optional[float] = flag(None, "at most this latency, summed from a per-layer table measured on "
                                                 "--device", type=positive_float)
    min_latency_ms: Optional[float] = flag(None, "at least this latency", type=non_negative_float)
    latency_batch: int = flag(1, "batch size of the latency table", type=positive_int)
    population: int = flag(50, "candidates per generation (the authors' 50)", type=positive_int)
    parents: int = flag(10, "top-k of the pool that breed", type=positive_int)
    mutations: int = flag(25, "mutated children per generation", type=positive_int)
    crossovers: int = flag(25, "crossed children per generation", type=positive_int)
    mutation_prob: float = flag(0.1, "probability that a gene mutates", type=fraction)
    iterations: int = flag(20, "generations", type=positive_int)
    recal_batches: int = flag(100, "training batches (of --batch-size) that re-estimate a candidate's BN statistics "
                                   "(default 100)", type=positive_int)
    uniform: bool = flag(False, "no search: the widest uniform width that meets the constraint (the paper's "
                                "baseline)")
    encoding: Optional[str] = flag(None, "no search: this encoding (comma-separated gene values 0..30)")
    width: Optional[float] = derived(None)      # the PruningNet's (from its checkpoint)
    holdout: Optional[int] = derived(None)      # the images its run held out (from its checkpoint)


def _mflops_tag(s) -> str:
    parts = []
    if s.max_mflops is not None or s.min_mflops is not None:
        lo = f"{s.min_mflops:g}-" if s.min_mflops is not None else ""
        hi = f"{s.max_mflops:g}" if s.max_mflops is not None else "inf"
        parts.append(f"f{lo}{hi}M" + ("a" if s.flops_counter == "authors" else ""))
    if s.max_latency_ms is not None or s.min_latency_ms is not None:
        lo = f"{s.min_latency_ms:g}-" if s.min_latency_ms is not None else ""
        parts.append(f"l{lo}{s.max_latency_ms if s.max_latency_ms is not None else 'inf'}ms")
    if s.encoding:
        parts.append("given")
    return "-".join(parts) + ("-uniform" if s.uniform else "")


def prune_resolve(s, ckpt):
    if ckpt["arm"] != "pruningnet":
        raise UserError(f"{s.checkpoint} is a {ckpt['arm']} run, not a PruningNet; train one with main.py")
    if not s.encoding and all(v is None for v in (s.max_mflops, s.min_mflops, s.max_latency_ms, s.min_latency_ms)):
        raise UserError("give a constraint: --max-mflops and/or --max-latency-ms (or --encoding)")
    for (lo, low), (hi, high) in ((("min-mflops", s.min_mflops), ("max-mflops", s.max_mflops)),
                                  (("min-latency-ms", s.min_latency_ms), ("max-latency-ms", s.max_latency_ms))):
        if low is not None and high is not None and low > high:
            raise UserError(f"--{lo} is above --{hi}")
    if s.encoding is not None and not s.encoding.strip():
        raise UserError("--encoding is empty; give the gene values as comma-separated integers 0..30")
    if s.encoding and s.uniform:
        raise UserError("give --encoding (this network) or --uniform (the widest uniform one), not both")
    if s.encoding:
        try:
            s = s.replace(encoding=",".join(str(int(g)) for g in s.encoding.replace(" ", "").split(",")))
        except ValueError:
            raise UserError(f"--encoding {s.encoding!r}: give the gene values as comma-separated integers 0..30") \
                from None
    return s.replace(holdout=ckpt["args"]["holdout"], width=ckpt["args"]["width"])


def load_pruningnet(s, ckpt) -> PruningNet:
    arch = ckpt["arch"]
    if arch not in SEARCH_ARCHS or "width" not in ckpt["args"]:
        raise UserError(f"{s.checkpoint} is not a MetaPruning PruningNet checkpoint")
    check_kind(arch, dataset_info(ckpt["dataset"]).kind, ckpt["dataset"])
    net = PruningNet(search_space(arch, ckpt["args"]["width"]), ckpt["num_classes"], ckpt["in_channels"])
    try:
        net.load_state_dict(ckpt["state_dict"])
    except RuntimeError:
        raise UserError(f"{s.checkpoint} does not hold a PruningNet of {arch} at width "
                        f"{ckpt['args']['width']}") from None
    return net


def check_constraints(s, net, input_size):
    """The FLOPs bounds against the smallest and the largest network of the space, and a given encoding against
    them (before any data is read)."""
    counter = counter_of(net, input_size)
    if s.encoding:
        encoding = net.space.check(s.encoding.split(","))
        layers = counter.layers(net.space.cfg(encoding))
        flops = sum(x.ours for x in layers) if s.flops_counter == "ours" else authors_flops(layers)
        if (s.max_mflops is not None and flops > s.max_mflops * 1e6) or \
                (s.min_mflops is not None and flops < s.min_mflops * 1e6):
            raise UserError(f"--encoding {s.encoding} does not meet the constraint: {flops / 1e6:.2f} MFLOPs "
                            f"({s.flops_counter} counter; {_bounds(s)})")
    lo, hi = flops_range(net.space, counter, s.flops_counter)
    if s.max_mflops is not None and s.max_mflops * 1e6 < lo:
        raise UserError(f"--max-mflops {s.max_mflops:g} is below the smallest network of the space "
                        f"({lo / 1e6:.2f} M, {s.flops_counter} counter)")
    if s.min_mflops is not None and s.min_mflops * 1e6 > hi:
        raise UserError(f"--min-mflops {s.min_mflops:g} is above the largest network of the space "
                        f"({hi / 1e6:.2f} M)")
    if s.max_mflops is not None and s.max_mflops * 1e6 >= hi:
        raise UserError(f"--max-mflops {s.max_mflops:g} is not below the largest network of the space "
                        f"({hi / 1e6:.2f} M, {s.flops_counter} counter): nothing to prune")


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


def search(s, net, ckpt, data) -> Pruned:
    device = resolve_device(s.device)
    info = dataset_info(s.dataset)
    counter = counter_of(net, data.input_size)
    constraint = Constraint(None if s.min_mflops is None else s.min_mflops * 1e6,
                            None if s.max_mflops is None else s.max_mflops * 1e6, s.flops_counter,
                            s.min_latency_ms, s.max_latency_ms)
    latency = None
    if s.max_latency_ms is not None or s.min_latency_ms is not None:
        size = "x".join(map(str, data.input_size))
        latency = LatencyTable(RUNS_ROOT / "latency" / f"{device_name(device)}-{size}-b{s.latency_batch}.json",
                               device, s.latency_batch)

    def figures(encoding):
        return constraint.figures(counter.layers(net.space.cfg(encoding)), latency)

    heldout = info.subset(s.data_dir, holdout_indices(info, s.data_dir, s.holdout), s.test_batch_size,
                          device, **({"image_size": s.image_size} if s.image_size else {}))
    recal = _FirstBatches(data.train, s.recal_batches, device)
    net.to(device)

    def evaluate(encoding):
        return fitness(net, encoding, recal, heldout, device)

    if s.encoding or s.uniform:
        if s.encoding:
            encoding = net.space.check(s.encoding.split(","))
            if not constraint.met(figures(encoding)):
                raise UserError(f"--encoding {s.encoding} does not meet the constraint: "
                                f"{_described(figures(encoding), s)} ({_bounds(s)})")
        else:
            encoding = uniform_encoding(net.space, lambda e: constraint.met(figures(e)))
        result = {"encoding": list(encoding), "error": evaluate(encoding), **figures(encoding)}
    else:
        evolution = EvolutionarySearch(net.space, evaluate, figures, constraint, data.folder / "search_cache.jsonl",
                                    seed=s.seed, population=s.population, parents=s.parents,
                                    mutations=s.mutations, crossovers=s.crossovers,
                                    mutation_prob=s.mutation_prob, iterations=s.iterations)
        result = evolution.run()
        print(f"search: {result['evaluated']} candidates evaluated ({result['cache_hits']} from the cache), "
              f"{result['fitness_s']:.1f} s in fitness, {result['overhead_s']:.2f} s elsewhere "
              f"({100 * result['overhead_s'] / max(result['fitness_s'], 1e-9):.2f}%); best held-out error "
              f"{result['error']:.2f}% vs {result['median_random_error']:.2f}% for the median random candidate")
    encoding = tuple(result["encoding"])
    model = generate(net, encoding)
    recalibrate_bn(model, recal)
    hours = {"pruningnet_hours": round(ckpt.get("elapsed", 0.0) / 3600, 4),
             "search_hours": round(result.get("search_s", 0.0) / 3600, 4), "device": device_name(device)}
    if latency is not None:
        hours["latency_table_s"] = round(latency.measured_s, 2)
    print(f"encoding {list(encoding)} -> cfg {model.cfg}")
    return Pruned(model, {**result, "cfg": list(model.cfg), "constraint": vars(constraint), "cost": hours,
                          "holdout": s.holdout})


def _described(fig: dict, s) -> str:
    """A candidate's figures in the constraint's terms."""
    flops = fig["authors_flops" if s.flops_counter == "authors" else "flops"]
    return f"{flops / 1e6:.2f} MFLOPs ({s.flops_counter} counter)" + (
        f", {fig['latency_ms']:.2f} ms" if fig.get("latency_ms") is not None else "")


def _bounds(s) -> str:
    named = (("--max-mflops", s.max_mflops), ("--min-mflops", s.min_mflops), ("--max-latency-ms", s.max_latency_ms),
             ("--min-latency-ms", s.min_latency_ms))
    return ", ".join(f"{flag} {value:g}" for flag, value in named if value is not None)


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


@dataclass(frozen=True)
class MetaPruningTable(Settings):
    mflops: str = flag("", "FLOPs targets in millions (default: CIFAR 40; ImageNet 300 140 43)")
    width: float = flag(1.0, "the search space's base widths x this (default 1)", type=positive_float)
    holdout: Optional[int] = flag(None, "training images held out for the search (default 50 per class)",
                                  type=positive_int)
    pruningnet_epochs: Optional[int] = flag(None, "PruningNet training epochs (default CIFAR 40, ImageNet 64)",
                                            type=positive_int)
    search_flags: str = flag("", "more prune.py flags, e.g. '--iterations 5 --population 20'")


@register_method
class MetaPruning(Method):
    name = "metapruning"
    title = "MetaPruning: Meta Learning for Automatic Neural Network Channel Pruning (Liu et al., ICCV 2019)"
    training = PruningNetTraining()
    prune_settings = SearchSettings
    finetune_settings = LabelSmoothing
    scratch_settings = LabelSmoothing
    table_settings = MetaPruningTable
    archs = {"cifar": ["mobilenet_v2_cifar"], "imagenet": ["mobilenet_v2"]}
    epochs = {"cifar": 160, "imagenet": 256}
    ft_epochs = {"cifar": 40, "imagenet": 20}
    seeds = {"cifar": 1, "imagenet": 1}

    def resolve_pruning(self, s, ckpt):
        return prune_resolve(s, ckpt)

    def pruned_variant(self, s, ckpt):
        return _mflops_tag(s)

    def load(self, s, ckpt):
        return load_pruningnet(s, ckpt)

    def check(self, s, model, input_size):
        check_constraints(s, model, input_size)

    def prune(self, s, model, ckpt, data):
        return search(s, model, ckpt, data)

    def measured(self, model):
        """A PruningNet stands for its search space: it is counted by its widest network."""
        return model.base_network() if isinstance(model, PruningNet) else model

    def table(self, t):
        """The paper's Table: per model and FLOPs target, the searched network and the uniform baseline at the
        same constraint, each fine-tuned (generated weights) and trained from scratch (E and B)."""
        targets = [f"{_mflops(m):g}" for m in t.opts.mflops.split()] or DEFAULT_TARGETS[t.tree]
        for seed in t.seeds:
            for arch in t.archs:
                pnet = t.train(arch, seed, arm="pruningnet", cfg=False,
                               epochs=t.opts.pruningnet_epochs or PNET_EPOCHS[t.tree],
                               flags=["--width", f"{t.opts.width:g}",
                                      *(["--holdout", t.opts.holdout] if t.opts.holdout else [])])
                for target in targets:
                    flops = ["--max-mflops", target, *t.opts.search_flags.split()]
                    t.retrain(t.prune(pnet, f"f{float(target):g}M", flags=flops))
                    t.retrain(t.prune(pnet, f"f{float(target):g}M-uniform", flags=[*flops, "--uniform"]))
