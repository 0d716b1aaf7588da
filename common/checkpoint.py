"""Checkpoints: atomic writes, safe loads, and the metadata that rebuilds a model.

A checkpoint is a dict (loadable with ``torch.load(weights_only=True)``) holding
``format``, ``arch``, ``dataset``, ``num_classes``, ``in_channels``, ``cfg``, ``mask``
(unstructured keep-masks or None), ``method``, ``arm``, ``epoch``, ``state_dict``,
``optimizer``, ``best_acc``, ``args``, ``code_revision`` and, for training runs, the RNG
states and hook states needed for an exact ``--resume``. ``meta`` carries anything a
method adds (for a pruned model: the base model's cfg and FLOPs, the variant).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from functools import lru_cache
from pathlib import Path

import torch

from common import distributed
from common.errors import UserError
from common.settings import recorded

FORMAT = "rethinking-pruning/1"


@lru_cache(maxsize=1)
def code_revision() -> str:
    """``git describe``-like revision of the code (``<sha>`` or ``<sha>-dirty``), or 'unknown'."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        if not sha:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def save_checkpoint(payload: dict, path) -> None:
    """Write ``payload`` to ``path`` atomically (temp file in the same folder, then rename).
    Under torchrun only rank 0 writes."""
    if not distributed.is_main():
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path, obj) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (temp file in the same folder, then rename)."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(jsonable(obj), indent=2) + "\n")
    os.replace(tmp, path)


def make_checkpoint(model, dataset: str, method: str, arm: str, *, epoch: int = -1, mask=None,
                    optimizer=None, best_acc=None, args=None, meta=None, **extra) -> dict:
    payload = {
        "format": FORMAT,
        "arch": model.arch,
        "dataset": dataset,
        "num_classes": model.num_classes,
        "in_channels": model.in_channels,
        "cfg": list(model.cfg),
        "mask": mask,
        "method": method,
        "arm": arm,
        "epoch": epoch,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "best_acc": best_acc,
        "args": jsonable(args or {}),
        "meta": jsonable(meta or {}),
        "code_revision": code_revision(),
    }
    payload.update(extra)
    return payload


def jsonable(obj):
    """Turn settings / argparse namespaces / paths / tuples into plain JSON-able (and weights_only-safe) values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = recorded(obj)
    elif hasattr(obj, "__dict__") and not isinstance(obj, (dict, list, tuple, str)):
        obj = vars(obj)
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


# What every checkpoint holds (``make_checkpoint``): a file missing one is refused on loading.
REQUIRED = {"arch": str, "dataset": str, "num_classes": int, "in_channels": int, "cfg": list, "method": str,
            "arm": str, "state_dict": dict, "meta": dict, "args": dict}


def load_error(e: Exception) -> str:
    """What a failed ``torch.load(weights_only=True)`` means, in a few words (PyTorch's message is a page)."""
    text = str(e)
    if "global" in text.lower() and "weights only" in text.lower():
        return ("it holds objects other than tensors and plain containers, which weights_only=True refuses to load "
                "(a file that would run code when loaded)")
    if "weights only load failed" in text.lower():
        return "truncated or not a checkpoint file (not a PyTorch file)"
    first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
    return f"truncated or not a checkpoint file ({first[:160]})"


def load_checkpoint(path, expect_arch: str | None = None, expect_dataset: str | None = None,
                    require_meta=()) -> dict:
    """Load a checkpoint safely (``weights_only=True``); every failure is one :class:`UserError` line,
    among them a checkpoint without one of the :data:`REQUIRED` keys or the ``require_meta`` entries."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise UserError(f"checkpoint path is not a file: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, pickle garbage, foreign object
        raise UserError(f"cannot read checkpoint {path}: {load_error(e)}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserError(f"{path} is not a checkpoint of this codebase (expected format {FORMAT!r})")
    for key, kind in REQUIRED.items():
        if not isinstance(ckpt.get(key), kind) or isinstance(ckpt.get(key), bool):
            what = "lacks" if key not in ckpt else "has a malformed"
            raise UserError(f"{path} {what} {key!r}; it is not a complete checkpoint of this codebase")
    check_meta(ckpt, path, require_meta)
    if expect_arch is not None and ckpt["arch"] != expect_arch:
        raise UserError(f"{path} holds a {ckpt['arch']} model, not {expect_arch}")
    if expect_dataset is not None and ckpt["dataset"] != expect_dataset:
        raise UserError(f"{path} was trained on {ckpt['dataset']}, not {expect_dataset}")
    return ckpt


def check_meta(ckpt: dict, path, keys) -> None:
    """One :class:`UserError` line unless ``ckpt["meta"]`` holds every one of ``keys``."""
    for key in keys:
        if key not in ckpt["meta"]:
            raise UserError(f"{path} lacks meta[{key!r}]; give the pruned.pt written by prune.py")


def model_from_checkpoint(ckpt: dict, load_weights: bool = True):
    """Rebuild ``(arch, cfg)`` from a checkpoint, with its weights unless ``load_weights=False``.

    Without weights the model is freshly initialised but keeps the checkpoint's structural
    buffers (those a module lists in ``structural_buffers``, e.g. which channels a
    ``ChannelSelection`` passes on): they are part of the architecture, not of the weights.
    """
    from common.models import build_model

    model = build_model(ckpt["arch"], ckpt["num_classes"], ckpt["in_channels"], ckpt["cfg"])
    if not load_weights:
        for name, module in model.named_modules():
            for buf in getattr(module, "structural_buffers", ()):
                key = f"{name}.{buf}" if name else buf
                if key in ckpt["state_dict"]:
                    getattr(module, buf).copy_(ckpt["state_dict"][key])
    if load_weights:
        try:
            model.load_state_dict(ckpt["state_dict"])
        except RuntimeError as e:
            raise UserError(f"checkpoint weights do not fit {ckpt['arch']} with its cfg: "
                            f"{str(e).splitlines()[0]}") from None
    if ckpt.get("mask") is not None:
        from common.masks import check_mask
        check_mask(model, ckpt["mask"])
    return model
