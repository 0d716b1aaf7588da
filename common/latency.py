"""Measured latency beside FLOPs: every model of a table timed on the current device.

FLOPs do not predict speed (a pruned network with half the FLOPs may run barely faster, and a masked one runs
exactly as fast as the dense one: PyTorch's dense kernels do every multiply-add, zero or not). So this times the
networks themselves: each distinct ``(arch, cfg)`` of the ``result.json`` files under a folder -- baselines and
pruned models -- with fresh weights (latency does not depend on their values), at batch 1 and at a saturating
batch, eager and ``torch.compile``, float32 and bfloat16 autocast where the device supports it. Each setting is
warmed up, then timed with ``torch.utils.benchmark`` (blocks of about 10 ms, at least 10 of them and until
``min_time`` seconds, CUDA synchronised by the timer), reported as the median and the inter-quartile range of the
per-call times of the blocks. A
masked model is timed as it runs -- dense -- and marked so; its speed-up is what it is, about 1.

    python scripts/latency.py runs/fashion-mnist/l1-norm [--batches 1 64] [--no-compile] [--device cuda]
"""

from __future__ import annotations

import json
import math
import platform
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from common.data import dataset_info
from common.distributed import device_name
from common.flops import count_flops, count_params
from common.models import build_model


def time_model(model, x, min_time: float = 0.3, compile: bool = False, bf16: bool = False) -> dict:
    """``{"median_ms", "iqr_ms", "runs"}`` of ``model(x)`` (no gradients), after a warm-up; or ``{"error": reason}``
    when the setting cannot run here (no compiler for ``torch.compile``, no bfloat16)."""
    from torch.utils import benchmark

    device = x.device
    run = model
    try:
        if compile:
            run = torch.compile(model)
        context = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
        with torch.no_grad(), context:
            start, calls = time.perf_counter(), 0          # warm-up (compiles on the first call): 3 calls and a
            while calls < 3 or time.perf_counter() - start < min(min_time, 0.25):   # while, so that the first
                run(x)                                     # network timed is not slowed by a cold thread pool
                calls += 1
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            timer = benchmark.Timer(stmt="run(x)", globals={"run": run, "x": x}, num_threads=torch.get_num_threads())
            # many short blocks (~10 ms each, at least 10), not a few long ones: the median of many blocks is not
            # moved by a passing slowdown of a shared machine, the median of two or three is
            per_call = timer.timeit(3).median                   # seconds per call, warm
            number = max(1, int(0.01 / max(per_call, 1e-6)))
            blocks, begin = [], time.perf_counter()
            while len(blocks) < 10 or time.perf_counter() - begin < min_time:
                blocks.append(timer.timeit(number).median)
    except Exception as e:                      # e.g. inductor without a C++ compiler, bf16 on an old CPU
        return {"error": f"{type(e).__name__}: {str(e).strip().splitlines()[0][:120] if str(e).strip() else ''}"}
    q = torch.tensor(blocks, dtype=torch.float64).quantile(torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
    return {"median_ms": float(q[1]) * 1e3, "iqr_ms": float(q[2] - q[0]) * 1e3, "runs": len(blocks)}


def models_of(results) -> list[dict]:
    """The distinct networks behind ``results`` (``result.json`` dicts): one entry per ``(dataset, arch, cfg,
    masked)``, with the rows (method, variant) that use it and, for a masked network, each row's FLOPs over its
    nonzero weights, one per seed (the dense network it runs as is shared by every sparsity)."""
    found = {}
    for r in results:
        if "arch" not in r or "cfg" not in r or "dataset" not in r:
            continue
        masked = isinstance(r.get("sparsity"), (int, float)) and r["sparsity"] > 0
        key = (r["dataset"], r["arch"], json.dumps(r["cfg"]), masked)
        entry = found.setdefault(key, {"dataset": r["dataset"], "arch": r["arch"], "cfg": r["cfg"], "masked": masked,
                                       "flops": r.get("flops"), "params": r.get("params"), "uses": [],
                                       "nonzero_flops": {}})
        label = "baseline" if r["arm"] == "baseline" else r.get("variant") or r["arm"]   # or e.g. sparsity-trained
        if masked and r.get("flops") is not None:
            entry["nonzero_flops"].setdefault(f"{r.get('method')} {label}", []).append(r["flops"])
        use = (r.get("method"), label, r.get("seed"))
        if use not in entry["uses"]:
            entry["uses"].append(use)
    return list(found.values())


def uses_text(uses) -> str:
    """``slimming p0.4 (seed 1), slimming baseline (seeds 1, 2, 3)``: the rows and seeds a network stands for."""
    seeds = {}
    for method, label, seed in uses:
        seeds.setdefault((method, label), []).append(seed)
    parts = []
    for (method, label), ss in seeds.items():
        known = sorted(s for s in ss if s is not None)
        which = (f" (seed {known[0]})" if len(known) == 1 else f" (seeds {', '.join(map(str, known))})" if known
                 else "")
        parts.append(f"{method} {label}{which}")
    return ", ".join(parts)


def measure(results, batches=(1, 64), device="cpu", compile=True, bf16=True, min_time=0.3, log=print) -> list[dict]:
    """Time every network of ``results``; one record per network and setting (see the module docstring)."""
    device = torch.device(device)
    records = []
    for net in models_of(results):
        info = dataset_info(net["dataset"])
        model = build_model(net["arch"], info.num_classes, info.in_channels, net["cfg"]).to(device).eval()
        shape = info.input_size
        common = {"dataset": net["dataset"], "arch": net["arch"], "cfg": net["cfg"], "masked": net["masked"],
                  "uses": [list(u) for u in net["uses"]], "params": count_params(model),
                  "flops": (count_flops(model, shape) if net["masked"] or net["flops"] is None else net["flops"]),
                  "nonzero_flops": {row: sum(f) / len(f) for row, f in net["nonzero_flops"].items()}}  # seeds' mean
        for batch in batches:
            x = torch.randn(batch, *shape, device=device)
            for mode in ("eager", "compile") if compile else ("eager",):
                for dtype in ("fp32", "bf16") if bf16 else ("fp32",):
                    t0 = time.perf_counter()
                    timing = time_model(model, x, min_time, compile=mode == "compile", bf16=dtype == "bf16")
                    records.append({**common, "batch": batch, "mode": mode, "dtype": dtype, **timing})
                    what = (f"{timing['median_ms']:.3f} ms (IQR {timing['iqr_ms']:.3f})" if "median_ms" in timing
                            else timing["error"])
                    log(f"  {net['arch']} {uses_text(net['uses'])[:60]}: batch {batch} {mode} "
                        f"{dtype}: {what}  [{time.perf_counter() - t0:.1f} s]")
    return records


def settings() -> dict:
    """Where the figures were measured."""
    return {"device": None, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "machine": platform.machine(), "python": platform.python_version()}


def table(records) -> str:
    """Markdown: one row per network, per setting its median ms and the speed-up over the baseline of its arch."""
    order = {"eager": 0, "compile": 1, "fp32": 0, "bf16": 1}
    settings_seen = sorted({(r["batch"], r["mode"], r["dtype"]) for r in records},
                           key=lambda k: (k[0], order[k[1]], order[k[2]]))
    nets = {}
    for r in records:
        nets.setdefault((r["dataset"], r["arch"], json.dumps(r["cfg"]), r["masked"]), []).append(r)
    base_of = {}
    for key, rs in nets.items():
        if any(u[1] == "baseline" for u in rs[0]["uses"]):
            base_of[(key[0], key[1])] = {(r["batch"], r["mode"], r["dtype"]): r for r in rs}
    header = ["Model", "Used by", "Params", "FLOPs", *(f"b={b} {m} {d}" for b, m, d in settings_seen)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for (dataset, arch, _, masked), rs in sorted(nets.items(), key=lambda kv: (kv[0][1], -(kv[1][0]["flops"] or 0))):
        by = {(r["batch"], r["mode"], r["dtype"]): r for r in rs}
        base = base_of.get((dataset, arch), {})
        first = rs[0]
        base_flops = next((b["flops"] for b in base.values()), None)
        flops = f"{first['flops'] / 1e6:.1f}M" + (f" ({base_flops / first['flops']:.2f}x fewer)"
                                                    if base_flops and first["flops"] and base_flops != first["flops"]
                                                    and not masked else "")
        if masked and first.get("nonzero_flops"):        # what it runs (dense), then what each row counts
            flops += " dense; nonzero: " + ", ".join(f"{f / 1e6:.1f}M {row}"
                                                     for row, f in first["nonzero_flops"].items())
        uses = uses_text([(*u, None)[:3] for u in first["uses"]]) + (" (masked: runs dense)" if masked else "")
        cells = [arch, uses, f"{first['params'] / 1e6:.2f}M", flops]
        for k in settings_seen:
            r = by.get(k, {})
            if "median_ms" not in r:
                cells.append("–")
                continue
            b = base.get(k, {})
            speed = (f" ({b['median_ms'] / r['median_ms']:.2f}x)" if "median_ms" in b and b is not r and
                     math.isfinite(r["median_ms"]) and r["median_ms"] > 0 else "")
            cells.append(f"{r['median_ms']:.3g} (±{r['iqr_ms'] / 2:.1g}){speed}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write(records, folder: Path, device) -> tuple[Path, Path]:
    """``latency.json`` (every record and where it was measured) and ``latency.md`` in ``folder``."""
    folder = Path(folder)
    info = {**settings(), "device": device_name(device)}
    (folder / "latency.json").write_text(json.dumps({"measured_on": info, "records": records}, indent=1) + "\n")
    text = (f"Latency on {info['device']} (torch {info['torch']}, {info['threads']} threads): median ms ± half the "
            f"IQR per forward pass of a batch, (speed-up over the baseline of the same arch); masked models run "
            f"dense.\n\n" + table(records) + "\n")
    (folder / "latency.md").write_text(text)
    return folder / "latency.json", folder / "latency.md"
