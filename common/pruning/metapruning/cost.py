"""What a candidate costs, without building it: FLOPs by our counter or the authors', and latency summed from a
per-layer table measured on the device; the constraint a search keeps to (Liu et al., ICCV 2019, Sec. 3.3)."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from common.checkpoint import write_json
from common.errors import UserError
from common.models import build_shapes
from common.pruning.metapruning.space import FULL, SearchSpace


@dataclass(frozen=True)
class Layer:
    kind: str            # conv | linear | bn | relu | pool
    signature: tuple     # conv: (c_in, c_out, k, stride, groups, h_in, w_in); linear: (in, out)
    ours: int            # multiply-accumulates (common.flops)
    authors: int         # the authors' cal_FLOPs.py count


# Archs whose ReLUs the authors' network applies as functions, so their counter never sees them (their MobileNet V1;
# their MobileNet V2's ReLU6 is functional too, and ours is nn.ReLU6, which the count leaves out as theirs does).
FUNCTIONAL_RELU = frozenset({"mobilenet_v1"})


def _records(arch, cfg, num_classes, in_channels, input_size) -> list[tuple]:
    """``(kind, attrs, in channels, out channels, in H*W, out H*W)`` of every counted layer call, in order."""
    net = build_shapes(arch, num_classes, in_channels, list(cfg)).eval()
    out = []
    relu = () if arch in FUNCTIONAL_RELU else (nn.ReLU,)

    def record(m, inp, res):
        x = inp[0]
        hw_in = x.shape[2] * x.shape[3] if x.dim() == 4 else 1
        hw_out = res.shape[2] * res.shape[3] if res.dim() == 4 else 1
        if isinstance(m, nn.Conv2d):
            attrs = (m.kernel_size[0], m.stride[0], m.groups > 1, m.bias is not None, x.shape[2], x.shape[3])
            out.append(("conv", attrs, m.in_channels, m.out_channels, hw_in, hw_out))
        elif isinstance(m, nn.Linear):
            out.append(("linear", (m.bias is not None,), m.in_features, m.out_features, 1, 1))
        elif isinstance(m, nn.BatchNorm2d) or type(m) in relu:
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
    BN and ``nn.ReLU`` elements, pooling. ReLUs their networks apply as functions are not counted: MobileNet
    V1's (:data:`FUNCTIONAL_RELU`), MobileNet V2's ReLU6."""
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


def flops_range(space: SearchSpace, counter: NetworkCounter, convention: str = "ours") -> tuple[int, int]:
    """FLOPs of the smallest (every gene 0.1) and the largest (every gene 1.0) network of ``space``."""
    out = []
    for g in (0, FULL):
        ls = counter.layers(space.cfg([g] * len(space.genes)))
        out.append(sum(x.ours for x in ls) if convention == "ours" else authors_flops(ls))
    return out[0], out[1]
