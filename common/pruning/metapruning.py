"""MetaPruning (Liu et al., ICCV 2019): a PruningNet generates the weights of any pruned network from its
width encoding; an evolutionary search picks the encoding under a FLOPs or latency constraint.

* **Encoding** (Sec. 3.1; spec B.1): one gene per searchable width, each one of 31 scales
  ``c_k = (10 + 3k) / 100`` of a base width (``int(base * c_k)``, at least 1). A gene may set several
  cfg entries; with the cfgs of ``common.models`` every gene sets one (a MobileNet V2 or ResNet stage
  has one output width, shared by its blocks through the residual additions). :class:`SearchSpace`.
* **PruningNet** (Sec. 3.2, Fig. 2; spec B.2): for every conv of the network one generator
  ``FC(k -> h) -> ReLU -> FC(h -> numel of the full-width kernel)`` fed the conv's width ratios
  ``[out / out_max, in / in_max]`` (a depthwise conv: ``[width / max]``), its output reshaped to the
  full-width kernel and cropped to the leading ``[:out, :in]`` channels. The forward *is* the plain
  network of the encoding (built on the meta device, run with ``torch.func.functional_call``), so the
  PruningNet at an encoding computes exactly what that network computes with the generated weights.
  Its BatchNorms have no affine parameters (the authors' choice, spec B.2) and normalise with the
  batch's statistics: they keep no running statistics, which the authors' per-width BN modules
  held but never used -- before any evaluation a candidate's statistics are re-estimated (below).
  The classifier is an ordinary layer (its input width is fixed).
* **Training** (Sec. 3.2; spec B.3): a new random encoding every batch (:class:`EncodingSampler`,
  an engine hook before the forward), label smoothing 0.1.
* **Search** (Sec. 3.3, Alg. 1; spec B.4): :class:`EvolutionarySearch` -- population 50, the best 10
  seen are the parents, 25 mutations (each gene with probability 0.1 to another value), 25
  crossovers (uniform), random candidates fill the rest, 20 iterations; candidates outside the
  constraint are rejected before evaluation; fitness = top-1 error on held-out training images
  after re-estimating BN statistics (:func:`fitness`), cached on disk so a killed search resumes.
* **Constraints**: FLOPs by our counter (``common.flops``: conv and linear multiply-accumulates) or
  by the authors' (:func:`authors_flops`: also biases, BN, ReLU and pooling elements), and latency
  summed from a per-layer latency table measured on the current device (:class:`LatencyTable`).
"""

from __future__ import annotations

import json
import math
import random
import statistics
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
from torch.func import functional_call

from common.checkpoint import write_json
from common.engine import Hook, evaluate
from common.errors import UserError
from common.models import build_model, build_shapes, default_cfg

SCALES = tuple((10 + 3 * k) / 100 for k in range(31))       # 0.10, 0.13, ..., 1.00
FULL = len(SCALES) - 1

# ----------------------------------------------------------------------------- search spaces


@dataclass(frozen=True)
class SearchSpace:
    """Which cfg entries each gene sets, from which base (full) widths.

    arch:       the plain network's registered arch; ``base`` its cfg at scale 1.0
    genes:      per gene, the cfg indices it sets (other entries stay at ``base``)
    hidden:     the generators' hidden width; ``hidden_for`` per-conv exceptions
    init:       the gene values random candidates are drawn from (ResNet-50: 12..23, scales 0.46-0.79)
    """

    arch: str
    base: tuple
    genes: tuple
    hidden: int = 32
    hidden_for: tuple = ()
    init: tuple = tuple(range(len(SCALES)))

    def cfg(self, encoding) -> list[int]:
        cfg = list(self.base)
        for gene, indices in zip(encoding, self.genes):
            for i in indices:
                cfg[i] = max(1, int(self.base[i] * SCALES[gene]))
        return cfg

    def check(self, encoding) -> tuple:
        encoding = tuple(int(g) for g in encoding)
        if len(encoding) != len(self.genes) or not all(0 <= g <= FULL for g in encoding):
            raise UserError(f"an encoding of {self.arch} has {len(self.genes)} genes in 0..{FULL}, "
                            f"got {list(encoding)}")
        return encoding

    def hidden_of(self, conv: str) -> int:
        return dict(self.hidden_for).get(conv, self.hidden)


def _scaled(widths, width: float) -> tuple:
    return tuple(max(1, int(w * width)) for w in widths)


def search_space(arch: str, width: float = 1.0) -> SearchSpace:
    """The spec's search space of ``arch`` (B.1), its base widths times ``width`` (small-scale runs)."""
    if arch == "mobilenet_v1":       # 13 genes: the stem and pointwise convs 1..12; the last one (1024) fixed
        return SearchSpace(arch, _scaled(default_cfg(arch), width), tuple((i,) for i in range(13)))
    if arch in ("mobilenet_v2", "mobilenet_v2_cifar"):
        from common.models.imagenet.mobilenet import v2_default_cfg
        # ImageNet: the authors' 1.4x widths (stage outputs 44, 22, 33, 44, 88, 132, 224, 448, hidden 6 x input);
        # CIFAR: the 1.0x widths. 8 stage genes (stem + 7 stages) and 16 hidden genes; the last conv fixed.
        base = (v2_default_cfg((44, 22, 33, 44, 88, 132, 224, 448)) if arch == "mobilenet_v2"
                else default_cfg(arch))
        return SearchSpace(arch, _scaled(base, width), tuple((i,) for i in range(24)), hidden=64,
                           hidden_for=(("features.0.0", 32), ("features.18.0", 32)))
    if arch == "resnet50_stages":    # stem + stages 1-3 outputs, 16 block genes (both inner widths); stage 4 fixed
        genes = tuple((i,) for i in range(4)) + tuple((5 + 2 * b, 6 + 2 * b) for b in range(16))
        return SearchSpace(arch, _scaled(default_cfg(arch), width), genes, init=tuple(range(12, 24)))
    raise UserError(f"MetaPruning has no search space for {arch}; choose one of: {', '.join(SEARCH_ARCHS)}")


SEARCH_ARCHS = ("mobilenet_v1", "mobilenet_v2", "resnet50_stages", "mobilenet_v2_cifar")

# ----------------------------------------------------------------------------- PruningNet


def _skeleton(arch, num_classes, in_channels, cfg) -> nn.Module:
    """The plain network of ``cfg`` on the meta device, its BNs without affine or running statistics."""
    net = build_shapes(arch, num_classes, in_channels, cfg)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.register_parameter("weight", None)
            m.register_parameter("bias", None)
            m.track_running_stats, m.running_mean, m.running_var, m.num_batches_tracked = False, None, None, None
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    return net


class PruningNet(nn.Module):
    """Generates the conv weights of every network of ``space``; see the module docstring.

    ``encoding`` (a tuple of genes) selects the network the next forward computes; in training it is
    set before every batch by :class:`EncodingSampler`; in evaluation mode every batch draws one from
    a generator reset by ``eval()``, so an evaluation scores the same random encodings each time.
    """

    def __init__(self, space: SearchSpace, num_classes: int, in_channels: int = 3, eval_seed: int = 0):
        super().__init__()
        self.space, self.eval_seed = space, eval_seed
        self.arch, self.cfg, self.num_classes, self.in_channels = space.arch, list(space.base), num_classes, in_channels
        full = build_model(space.arch, num_classes, in_channels, list(space.base))
        self.convs, self.generators = {}, nn.ModuleDict()
        for name, m in full.named_modules():
            if isinstance(m, nn.Conv2d):
                depthwise = m.groups > 1
                if depthwise and not m.groups == m.in_channels == m.out_channels:
                    raise UserError(f"{name} of {space.arch} is a grouped conv; MetaPruning handles depthwise ones")
                h = space.hidden_of(name)
                self.convs[name] = (tuple(m.weight.shape), depthwise)
                self.generators[name.replace(".", "_")] = nn.Sequential(
                    nn.Linear(1 if depthwise else 2, h), nn.ReLU(inplace=True), nn.Linear(h, m.weight.numel()))
        plain = {k: v for k, v in full.named_parameters()
                 if k.rsplit(".", 1)[0] not in self.convs and not _is_bn(full, k)}
        self.plain = nn.ParameterDict({k.replace(".", "_"): nn.Parameter(v.detach().clone()) for k, v in plain.items()})
        self._plain_names = {k.replace(".", "_"): k for k in plain}
        smallest = _skeleton(space.arch, num_classes, in_channels, space.cfg([0] * len(space.genes)))
        for k, v in smallest.named_parameters():
            if k.replace(".", "_") in self.plain and tuple(v.shape) != tuple(self.plain[k.replace(".", "_")].shape):
                raise UserError(f"{k} of {space.arch} changes shape with the encoding; only convs are generated")
        self.encoding = (FULL,) * len(space.genes)
        self._skeletons: OrderedDict = OrderedDict()
        self._eval_rng = torch.Generator().manual_seed(eval_seed)

    def train(self, mode: bool = True):
        if not mode:
            self._eval_rng.manual_seed(self.eval_seed)
        return super().train(mode)

    def skeleton(self, cfg) -> nn.Module:
        key = tuple(cfg)
        if key not in self._skeletons:
            self._skeletons[key] = _skeleton(self.arch, self.num_classes, self.in_channels, cfg)
            if len(self._skeletons) > 8:
                self._skeletons.popitem(last=False)
        self._skeletons.move_to_end(key)
        return self._skeletons[key]

    def weights(self, encoding) -> tuple[nn.Module, dict]:
        """The encoding's network (meta device) and its weights: generated convs, the plain layers."""
        net = self.skeleton(self.space.cfg(encoding))
        shapes = {n: m.weight.shape for n, m in net.named_modules() if isinstance(m, nn.Conv2d)}
        device = next(self.parameters()).device
        params = {}
        for name, (full, depthwise) in self.convs.items():
            out, inp = shapes[name][0], shapes[name][1]
            ratios = [out / full[0]] if depthwise else [out / full[0], inp / full[1]]
            w = self.generators[name.replace(".", "_")](torch.tensor(ratios, device=device)).view(full)
            params[f"{name}.weight"] = w[:out] if depthwise else w[:out, :inp]
        for k, v in self.plain.items():
            params[self._plain_names[k]] = v
        return net, params

    def forward(self, x):
        if not self.training:
            self.encoding = sample_encoding(self.space, self._eval_rng)
        net, params = self.weights(self.encoding)
        return functional_call(net, params, (x,))

    def base_network(self) -> nn.Module:
        """The full-width plain network (what the counts of a run compare against)."""
        return build_model(self.arch, self.num_classes, self.in_channels, list(self.space.base))


def _is_bn(model, key) -> bool:
    return isinstance(model.get_submodule(key.rsplit(".", 1)[0]), nn.BatchNorm2d)


def sample_encoding(space: SearchSpace, rng: torch.Generator, choices=None) -> tuple:
    """Every gene uniformly from ``choices`` (default: all 31 scales), jointly (spec B.3)."""
    choices = torch.tensor(choices or range(len(SCALES)))
    return tuple(int(choices[i]) for i in torch.randint(len(choices), (len(space.genes),), generator=rng))


class EncodingSampler(Hook):
    """Before every training forward: a new random encoding (its generator is saved for a resume)."""

    def __init__(self, pruningnet: PruningNet, seed: int):
        self.net, self.rng = pruningnet, torch.Generator().manual_seed(seed)

    def before_forward(self, trainer):
        self.net.encoding = sample_encoding(self.net.space, self.rng)

    def state_dict(self):
        return {"rng": self.rng.get_state()}

    def load_state_dict(self, state):
        self.rng.set_state(state["rng"])


@torch.no_grad()
def generate(pnet: PruningNet, encoding) -> nn.Module:
    """The plain network of ``encoding`` holding the PruningNet's generated weights (BN scale 1, shift 0;
    running statistics reset: re-estimate them with :func:`recalibrate_bn`)."""
    encoding = pnet.space.check(encoding)
    net, params = pnet.weights(encoding)
    model = build_model(pnet.arch, pnet.num_classes, pnet.in_channels, pnet.space.cfg(encoding))
    state = model.state_dict()
    for k, v in params.items():
        state[k] = v.detach().cpu()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight), nn.init.zeros_(m.bias)
            m.reset_running_stats()
    model.load_state_dict(state)
    return model.to(next(pnet.parameters()).device)


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches) -> None:
    """Re-estimate every BN's running statistics (spec B.4 step 1-2): reset, then train-mode forwards
    without gradients. The average is cumulative (``momentum=None``), so it does not depend on how many
    batches there are; the authors used momentum 0.1 over 100 batches of 1000, which agrees closely."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for x in batches:
        model(x)
    for m, momentum in zip(bns, saved):
        m.momentum = momentum
    model.eval()


@torch.no_grad()
def fitness(pnet: PruningNet, encoding, recal_batches, heldout, device) -> float:
    """Top-1 error (%) on ``heldout`` of the encoding's generated network after re-estimating its BN
    statistics on ``recal_batches`` (spec B.4)."""
    model = generate(pnet, encoding)
    recalibrate_bn(model, recal_batches)
    return 100.0 - evaluate(model, heldout, device)[1]


# ----------------------------------------------------------------------------- counting and latency

@dataclass(frozen=True)
class Layer:
    kind: str            # conv | linear | bn | relu | pool
    signature: tuple     # conv: (c_in, c_out, k, stride, groups, h_in, w_in); linear: (in, out)
    ours: int            # multiply-accumulates (common.flops)
    authors: int         # the authors' cal_FLOPs.py count


def _records(arch, cfg, num_classes, in_channels, input_size) -> list[tuple]:
    """``(kind, attrs, in channels, out channels, in H*W, out H*W)`` of every counted layer call, in order."""
    net = build_shapes(arch, num_classes, in_channels, list(cfg)).eval()
    out = []

    def record(m, inp, res):
        x = inp[0]
        hw_in = x.shape[2] * x.shape[3] if x.dim() == 4 else 1
        hw_out = res.shape[2] * res.shape[3] if res.dim() == 4 else 1
        if isinstance(m, nn.Conv2d):
            attrs = (m.kernel_size[0], m.stride[0], m.groups > 1, m.bias is not None, x.shape[2], x.shape[3])
            out.append(("conv", attrs, m.in_channels, m.out_channels, hw_in, hw_out))
        elif isinstance(m, nn.Linear):
            out.append(("linear", (m.bias is not None,), m.in_features, m.out_features, 1, 1))
        elif isinstance(m, nn.BatchNorm2d) or type(m) is nn.ReLU:
            out.append(("elementwise", (), x.shape[1], x.shape[1], hw_in, hw_out))
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
            out.append(("pool", (k * k,), x.shape[1], res.shape[1], hw_in, hw_out))
        elif isinstance(m, nn.AdaptiveAvgPool2d):
            out.append(("pool", (hw_in / max(hw_out, 1),), x.shape[1], res.shape[1], hw_in, hw_out))

    handles = [m.register_forward_hook(record) for m in net.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d,
                                 nn.AdaptiveAvgPool2d))]
    try:
        net(torch.empty(1, *input_size, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return out


class NetworkCounter:
    """The layers of any network of a search space, counted without building it.

    Feature-map sizes do not depend on the widths, and every channel count of these networks is one
    cfg entry or fixed: a meta-device forward at the base widths, and one with every cfg entry set to
    a distinct tell-tale width, say which entry each layer's input and output widths follow. A
    candidate's layers are then arithmetic on its cfg (well under a millisecond, where building the
    network takes tens).
    """

    TELL = 100_003            # cfg entry i is set to TELL + i

    def __init__(self, arch, base_cfg, num_classes, in_channels, input_size):
        args = (num_classes, in_channels, input_size)
        self.base = list(base_cfg)
        self.records = _records(arch, self.base, *args)
        told = _records(arch, [self.TELL + i for i in range(len(self.base))], *args)
        if len(told) != len(self.records):
            raise UserError(f"the layers of {arch} change with its widths; MetaPruning cannot count them")
        self.follows = []
        for base, tell in zip(self.records, told):
            pair = []
            for c, t in ((base[2], tell[2]), (base[3], tell[3])):
                i = t - self.TELL
                if 0 <= i < len(self.base) and c == self.base[i]:
                    pair.append(i)
                elif c == t:
                    pair.append(None)
                else:
                    raise UserError(f"a layer of {arch} has a width that is not one cfg entry; cannot count it")
            self.follows.append(pair)

    def layers(self, cfg) -> list[Layer]:
        out = []
        for (kind, attrs, c_in, c_out, hw_in, hw_out), (f_in, f_out) in zip(self.records, self.follows):
            c_in = c_in if f_in is None else cfg[f_in]
            c_out = c_out if f_out is None else cfg[f_out]
            if kind == "conv":
                k, stride, depthwise, bias, h, w = attrs
                groups = c_in if depthwise else 1
                macs = c_out * (c_in // groups) * k * k * hw_out
                out.append(Layer("conv", (c_in, c_out, k, stride, groups, h, w), macs, macs + bias * c_out * hw_out))
            elif kind == "linear":
                out.append(Layer("linear", (c_in, c_out), c_in * c_out, c_in * c_out + attrs[0] * c_out))
            elif kind == "elementwise":
                out.append(Layer(kind, (), 0, c_in * hw_in))
            else:
                out.append(Layer(kind, (), 0, int(attrs[0] * c_out * hw_out)))
        return out


def authors_flops(model_layers) -> int:
    """The authors' count (``cal_FLOPs.py``, spec B.6): conv and linear multiply-accumulates plus biases,
    BN and ``nn.ReLU`` elements (their MobileNet V2's functional ReLU6 is not counted, nor is ours), pooling."""
    return sum(layer.authors for layer in model_layers)


class LatencyTable:
    """Per-layer latency (ms) on ``device`` at batch ``batch``, measured once per layer shape (conv + BN +
    ReLU; linear) and kept in ``path`` (JSON); a network's latency is the sum over its layers (the paper's
    look-up table, Sec. 3.3)."""

    def __init__(self, path, device, batch: int = 1, repeats: int = 5):
        self.path, self.device, self.batch, self.repeats = Path(path), torch.device(device), batch, repeats
        self.table = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.measured_s = 0.0

    def key(self, layer: Layer) -> str:
        return f"{self.device.type}|b{self.batch}|{layer.kind}|" + ",".join(map(str, layer.signature))

    @torch.no_grad()
    def _measure(self, layer: Layer) -> float:
        if layer.kind == "conv":
            c_in, c_out, k, stride, groups, h, w = layer.signature
            op = nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))
            x = torch.randn(self.batch, c_in, h, w, device=self.device)
        else:
            op, x = nn.Linear(*layer.signature), torch.randn(self.batch, layer.signature[0], device=self.device)
        op = op.to(self.device).eval()
        sync = torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)
        times = []
        for i in range(self.repeats + 2):
            sync()
            t0 = time.perf_counter()
            op(x)
            sync()
            if i >= 2:
                times.append(time.perf_counter() - t0)
        return 1000.0 * statistics.median(times)

    def latency_ms(self, model_layers) -> float:
        total, fresh = 0.0, False
        for layer in model_layers:
            if layer.kind not in ("conv", "linear"):
                continue
            key = self.key(layer)
            if key not in self.table:
                t0 = time.perf_counter()
                self.table[key] = self._measure(layer)
                self.measured_s += time.perf_counter() - t0
                fresh = True
            total += self.table[key]
        if fresh:
            write_json(self.path, self.table)
        return total


@dataclass
class Constraint:
    """Bounds a candidate must meet: FLOPs (in ``counter``'s convention) and latency (ms), None = no bound."""

    min_flops: float | None = None
    max_flops: float | None = None
    counter: str = "ours"                 # ours | authors
    min_latency: float | None = None
    max_latency: float | None = None

    def figures(self, model_layers, latency: LatencyTable | None) -> dict:
        out = {"flops": sum(x.ours for x in model_layers), "authors_flops": authors_flops(model_layers)}
        if latency is not None and (self.min_latency is not None or self.max_latency is not None):
            out["latency_ms"] = latency.latency_ms(model_layers)
        return out

    def met(self, fig: dict) -> bool:
        flops = fig["flops"] if self.counter == "ours" else fig["authors_flops"]
        lat = fig.get("latency_ms")
        return ((self.min_flops is None or flops >= self.min_flops)
                and (self.max_flops is None or flops <= self.max_flops)
                and (self.min_latency is None or lat >= self.min_latency)
                and (self.max_latency is None or lat <= self.max_latency))


# ----------------------------------------------------------------------------- evolutionary search

class EvolutionarySearch:
    """Algorithm 1 of the paper with the released code's numbers (spec B.4). ``evaluate(encoding)`` gives
    the fitness (top-1 error, lower is better), ``figures(encoding)`` the constraint's figures and
    ``constraint.met`` accepts them. Fitness values are cached in ``cache_path`` (JSON lines, one appended
    and flushed per evaluation; a line cut short by a kill is ignored): started again with the same seed,
    a search replays its candidates, reads what it evaluated from the cache and continues, ending with
    the same population as an uninterrupted run."""

    def __init__(self, space: SearchSpace, evaluate, figures, constraint: Constraint, cache_path, seed: int = 0,
                 population: int = 50, parents: int = 10, mutations: int = 25, crossovers: int = 25,
                 mutation_prob: float = 0.1, iterations: int = 20, log=print):
        self.space, self.evaluate_fn, self.figures_fn, self.constraint = space, evaluate, figures, constraint
        self.cache_path = Path(cache_path)
        self.rng = random.Random(seed)
        self.population, self.parents, self.mutations, self.crossovers = population, parents, mutations, crossovers
        self.mutation_prob, self.iterations, self.log = mutation_prob, iterations, log
        self.cache = _read_cache(self.cache_path)
        self.figure_cache: dict = {}
        self.evaluated: list[tuple] = []         # (error, encoding) in evaluation order
        self.fitness_s = self.overhead_s = 0.0
        self.cache_hits = 0

    @staticmethod
    def key(encoding) -> str:
        return ",".join(map(str, encoding))

    def valid(self, encoding) -> bool:
        if encoding not in self.figure_cache:
            self.figure_cache[encoding] = self.figures_fn(encoding)
        return self.constraint.met(self.figure_cache[encoding])

    def fitness(self, encoding) -> float:
        k = self.key(encoding)
        if k in self.cache:
            self.cache_hits += 1
        else:
            t0 = time.perf_counter()
            error = float(self.evaluate_fn(encoding))
            self.fitness_s += time.perf_counter() - t0
            self.cache[k] = {"error": error, **self.figure_cache[encoding]}
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.cache_path, "a") as f:
                f.write(json.dumps({"encoding": k, **self.cache[k]}) + "\n")
                f.flush()
        return self.cache[k]["error"]

    def _mutate(self, parents, seen):
        out = []
        for _ in range(10 * self.mutations):
            if len(out) == self.mutations:
                break
            p = self.rng.choice(parents)
            child = tuple((g + self.rng.randint(1, FULL)) % len(SCALES) if self.rng.random() < self.mutation_prob else g
                          for g in p)
            if child not in seen and self.valid(child):
                seen.add(child)
                out.append(child)
        return out

    def _crossover(self, parents, seen):
        out = []
        if len(parents) < 2:
            return out
        for _ in range(10 * self.crossovers):
            if len(out) == self.crossovers:
                break
            a, b = self.rng.sample(parents, 2)
            child = tuple(x if self.rng.random() < 0.5 else y for x, y in zip(a, b))
            if child not in seen and self.valid(child):
                seen.add(child)
                out.append(child)
        return out

    def _random(self, count, seen, tries_per=1000):
        out = []
        for _ in range(count * tries_per):
            if len(out) == count:
                break
            child = tuple(self.rng.choice(self.space.init) for _ in self.space.genes)
            if child not in seen and self.valid(child):
                seen.add(child)
                out.append(child)
        return out

    def run(self) -> dict:
        t_start = time.perf_counter()
        seen: set = set()
        pool: list[tuple] = []             # (error, encoding), the best ``population`` seen
        history, first_errors = [], []
        for it in range(self.iterations):
            parents = [enc for _, enc in pool[:self.parents]]
            t0 = time.perf_counter()
            generation = self._mutate(parents, seen) + self._crossover(parents, seen) if parents else []
            generation += self._random(self.population - len(generation), seen)
            self.overhead_s += time.perf_counter() - t0
            if not generation:
                if it == 0:
                    raise UserError("no encoding meets the constraint; loosen it")
                break
            errors = [self.fitness(enc) for enc in generation]
            if it == 0:
                first_errors = errors
            self.evaluated += list(zip(errors, generation))
            pool = sorted(pool + list(zip(errors, generation)))[:self.population]
            history.append({"iteration": it + 1, "evaluated": len(generation), "best_error": pool[0][0],
                            "mean_top10_error": sum(e for e, _ in pool[:10]) / min(10, len(pool))})
            self.log(f"search iteration {it + 1}/{self.iterations}: {len(generation)} candidates, best error "
                     f"{pool[0][0]:.2f}%, top-10 mean {history[-1]['mean_top10_error']:.2f}%")
        best_error, best = pool[0]
        total = time.perf_counter() - t_start
        return {"encoding": list(best), "error": best_error, **self.figure_cache[best],
                "population": [{"encoding": list(e), "error": err} for err, e in pool],
                "history": history, "evaluated": len(self.evaluated), "cache_hits": self.cache_hits,
                "median_random_error": statistics.median(first_errors) if first_errors else math.nan,
                "search_s": round(total, 3), "fitness_s": round(self.fitness_s, 3),
                "overhead_s": round(total - self.fitness_s, 3)}


def _read_cache(path: Path) -> dict:
    """``{encoding: {"error": ..., figures}}`` from a search's JSON-lines cache (a cut last line is skipped)."""
    cache = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            cache[entry.pop("encoding")] = entry
    return cache


def flops_range(space: SearchSpace, counter: NetworkCounter, convention: str = "ours") -> tuple[int, int]:
    """FLOPs of the smallest (every gene 0.1) and the largest (every gene 1.0) network of ``space``."""
    out = []
    for g in (0, FULL):
        ls = counter.layers(space.cfg([g] * len(space.genes)))
        out.append(sum(x.ours for x in ls) if convention == "ours" else authors_flops(ls))
    return out[0], out[1]


def uniform_encoding(space: SearchSpace, fits) -> tuple:
    """The widest uniform encoding (every gene the same scale) that ``fits`` -- the paper's uniform baseline."""
    for g in range(FULL, -1, -1):
        if fits((g,) * len(space.genes)):
            return (g,) * len(space.genes)
    raise UserError("no uniform width meets the constraint")


__all__ = ["Constraint", "EncodingSampler", "EvolutionarySearch", "LatencyTable", "PruningNet", "SCALES",
           "SearchSpace", "authors_flops", "fitness", "flops_range", "generate", "NetworkCounter", "recalibrate_bn",
           "sample_encoding", "search_space", "uniform_encoding"]
