#!/usr/bin/env python
"""Export a checkpoint -- a pruned one, a fine-tuned one, any of ours -- for deployment::

    python scripts/export.py --checkpoint runs/.../pruned.pt --out exported/ [--onnx] [--semi-structured]

writes, each checked against the checkpoint's own logits on a batch of inputs:

  ``model.pt``    a plain dense ``nn.Module``'s state dict (torchvision's keys for the ImageNet models) with the
                  arch and the width cfg that build it: ``build_model(arch, num_classes, in_channels, cfg)``
                  (``common.models``) then ``load_state_dict``; a pruned network is simply narrower
  ``model.pt2``   a ``torch.export`` program of any batch size (``torch.export.load(path).module()``), no code of
                  ours needed
  ``model.onnx``  with ``--onnx`` (needs the ``onnx`` and ``onnxscript`` packages; checked with ``onnxruntime``
                  when it is installed)

A masked (unstructured) model is exported with its pruned weights as zeros -- it runs dense, as fast as the
unpruned one. ``--semi-structured`` stores the weights of the linear layers whose mask is 2:4 (two of every four
consecutive weights zero) in PyTorch's semi-structured sparse format, which only CUDA kernels run; PyTorch has no
2:4 convolution kernel, so convolutions stay dense whatever their mask.
"""

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from common.checkpoint import load_checkpoint, model_from_checkpoint
from common.data import DATASETS, dataset_info
from common.distributed import resolve_device
from common.errors import UserError
from common.masks import apply_mask_
from common.settings import Settings, entry_point, Part, flag, main_guard, positive_int


@dataclass(frozen=True)
class Export(Settings):
    checkpoint: Optional[str] = flag(None, "the checkpoint to export", required=True)
    out: Optional[str] = flag(None, "the folder to write (must not exist)", required=True)
    onnx: bool = flag(False, "also an ONNX file (needs: pip install onnx onnxscript; checked with onnxruntime)")
    semi_structured: bool = flag(False, "2:4 semi-structured weights for the linear layers whose mask allows it (CUDA)")
    batch: int = flag(2, "inputs of the check (default %(default)s)", type=positive_int)
    device: Optional[str] = flag(None, "cuda, cuda:N or cpu (default: cuda when available)")


def _same(a, b, what):
    if not torch.allclose(a, b, rtol=1e-4, atol=1e-5):
        raise UserError(f"{what} does not reproduce the checkpoint's logits (max difference "
                        f"{(a - b).abs().max().item():.3g})")


def two_four(weight) -> bool:
    """Whether every group of four consecutive weights of each row has at most two non-zero."""
    if weight.dim() != 2 or weight.shape[1] % 4:
        return False
    return bool(((weight.reshape(weight.shape[0], -1, 4) != 0).sum(-1) <= 2).all())


def semi_structured(model, device):
    """Linear layers with a 2:4 pattern to PyTorch's semi-structured sparse format (CUDA only); returns their names."""
    if device.type != "cuda":
        raise UserError("--semi-structured needs a CUDA GPU: PyTorch runs 2:4 sparse weights only there (and has no "
                        "2:4 convolution kernel at all)")
    from torch.sparse import to_sparse_semi_structured
    done = []
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Linear) and two_four(m.weight):
            m.weight = torch.nn.Parameter(to_sparse_semi_structured(m.weight.detach().half()), requires_grad=False)
            done.append(name)
    return done


def main(argv=None):
    parser, settings = entry_point(__doc__, [Part(Export)])

    def run(s):
        out = Path(s.out)
        if out.exists():
            raise UserError(f"{out} exists; choose another --out")
        ckpt = load_checkpoint(s.checkpoint)
        device = resolve_device(s.device)
        model = model_from_checkpoint(ckpt).to(device).eval()
        if ckpt.get("mask") is not None:
            apply_mask_(model, ckpt["mask"])
        info = dataset_info(ckpt["dataset"]) if ckpt["dataset"] in DATASETS else None
        size = ckpt["args"].get("image_size") or (info.image_size if info else 224)
        x = torch.randn(s.batch, ckpt["in_channels"], size, size, generator=torch.Generator().manual_seed(0)).to(device)
        with torch.no_grad():
            want = model(x)
        out.mkdir(parents=True)
        try:
            written = []
            plain = {"arch": ckpt["arch"], "cfg": list(ckpt["cfg"]), "num_classes": ckpt["num_classes"],
                     "in_channels": ckpt["in_channels"], "dataset": ckpt["dataset"], "input_size": [size, size],
                     "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
            torch.save(plain, out / "model.pt")
            (out / "model.json").write_text(json.dumps({k: v for k, v in plain.items() if k != "state_dict"},
                                                       indent=1) + "\n")
            from common.models import build_model
            rebuilt = build_model(plain["arch"], plain["num_classes"], plain["in_channels"], plain["cfg"])
            rebuilt.load_state_dict(torch.load(out / "model.pt", weights_only=True)["state_dict"])
            with torch.no_grad():
                _same(rebuilt.to(device).eval()(x), want, "model.pt")
            written.append("model.pt (+ model.json)")

            program = torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim.DYNAMIC},))   # any batch
            torch.export.save(program, out / "model.pt2")
            with torch.no_grad():
                _same(torch.export.load(out / "model.pt2").module()(x), want, "model.pt2")
            written.append("model.pt2")

            if s.onnx:
                written.append(export_onnx(model, x, want, out / "model.onnx"))
            if s.semi_structured:
                layers = semi_structured(model, device)
                with torch.no_grad():
                    _same(model(x.half()).float(), want, "the 2:4 model") if layers else None
                written.append(f"2:4 linear layers: {', '.join(layers) or 'none had a 2:4 mask'}")
        except BaseException:
            import shutil
            shutil.rmtree(out, ignore_errors=True)
            raise
        print(f"{s.checkpoint} -> {out}: {'; '.join(written)}; each reproduces the checkpoint's logits")

    main_guard(run, parser, argv, settings)


def export_onnx(model, x, want, path) -> str:
    for package in ("onnx", "onnxscript"):
        try:
            __import__(package)
        except ImportError:
            raise UserError(f"--onnx needs the {package} package: pip install onnx onnxscript") from None
    torch.onnx.export(model, (x,), str(path), dynamo=True)
    try:
        import onnxruntime
    except ImportError:
        return "model.onnx (not run: onnxruntime is not installed)"
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.detach().cpu().numpy()})[0]
    _same(torch.from_numpy(got), want.detach().cpu(), "model.onnx")
    return "model.onnx (checked with onnxruntime)"


if __name__ == "__main__":
    sys.exit(main())
