#!/usr/bin/env python
"""Evaluate a checkpoint -- any of ours, a pruned one, or one converted by download_checkpoints.py -- on a
dataset's test split, without training (torchvision's ``--test-only``)::

    python scripts/evaluate.py --checkpoint checkpoints/resnet34.pt --data-dir /data/imagenet
    python scripts/evaluate.py --checkpoint runs/.../pruned.pt --test-subset 1000 --json

prints top-1 and top-5 accuracy (%), the mean cross-entropy, parameters and FLOPs (a masked model's non-zero
ones); ``--json`` prints them as one JSON object. The dataset is the checkpoint's unless ``--dataset`` says
otherwise (of the same classes); a pruned model keeps its keep-mask. Offline, an ImageNet checkpoint can be
smoke-tested on ``scripts/make_image_folder.py --imagenet-classes`` (accuracy meaningless there).
"""

import json
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from common.checkpoint import load_checkpoint, model_from_checkpoint
from common.data import DATASETS, ImageSettings, dataset_info, make_loaders
from common.distributed import resolve_device
from common.errors import UserError
from common.flops import count_flops, count_params
from common.masks import apply_mask_, kept_params
from common.settings import Part, Settings, entry_point, flag, main_guard, positive_int


@dataclass(frozen=True)
class Evaluation(Settings):
    checkpoint: Optional[str] = flag(None, "the checkpoint to evaluate", required=True)
    dataset: Optional[str] = flag(None, "dataset (default: the checkpoint's)")
    data_dir: str = flag("data", "the dataset's folder (as for training)")
    test_subset: Optional[int] = flag(None, "the first N test images only", type=positive_int)
    test_batch_size: int = flag(256, "images per batch (default %(default)s)", type=positive_int)
    device: Optional[str] = flag(None, "cuda, cuda:N or cpu (default: cuda when available)")
    json: bool = flag(False, "print the figures as one JSON object")


@torch.no_grad()
def top_k(model, loader, device) -> dict:
    """Top-1 and top-5 accuracy (%) and the mean cross-entropy of ``model`` over ``loader``."""
    model.eval()
    n, loss, hits = 0, 0.0, torch.zeros(2)
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        out = model(x).float()
        loss += F.cross_entropy(out, y, reduction="sum").item()
        best = out.topk(min(5, out.shape[1]), dim=1).indices == y[:, None]
        hits += torch.tensor([best[:, :1].any(1).sum().item(), best.any(1).sum().item()])
        n += y.numel()
    return {"top1": 100 * hits[0].item() / n, "top5": 100 * hits[1].item() / n, "loss": loss / n, "images": n}


def main(argv=None):
    parser, settings = entry_point(__doc__, [Part(Evaluation, choices={"dataset": sorted(DATASETS)}),
                                             Part(ImageSettings)])

    def run(s):
        ckpt = load_checkpoint(s.checkpoint)
        dataset = s.dataset or ckpt["dataset"]
        info = dataset_info(dataset)
        if info.num_classes != ckpt["num_classes"] or info.in_channels != ckpt["in_channels"]:
            raise UserError(f"{s.checkpoint} classifies {ckpt['num_classes']} classes of {ckpt['in_channels']}-channel "
                            f"images; {dataset} has {info.num_classes} of {info.in_channels}")
        device = resolve_device(s.device)
        model = model_from_checkpoint(ckpt).to(device)
        mask = ckpt.get("mask")
        if mask is not None:
            apply_mask_(model, mask)
        image_size = s.image_size or ckpt["args"].get("image_size")
        test = make_loaders(dataset, s.data_dir, 2, s.test_batch_size, device=device, test_subset=s.test_subset,
                            image_size=image_size, workers=s.workers, gpu_decode=s.gpu_decode)[1]
        figures = top_k(model, test, device)
        shape = (info.in_channels, image_size or info.image_size, image_size or info.image_size)
        figures.update(params=kept_params(model, mask) if mask is not None else count_params(model),
                       flops=count_flops(model, shape, mask is not None), arch=ckpt["arch"], dataset=dataset,
                       checkpoint=str(s.checkpoint))
        if s.json:
            print(json.dumps(figures))
        else:
            print(f"{s.checkpoint}: {ckpt['arch']} on {figures['images']} {dataset} test images: top-1 "
                  f"{figures['top1']:.2f}%, top-5 {figures['top5']:.2f}%, loss {figures['loss']:.4f}; params "
                  f"{figures['params']:,}, FLOPs {figures['flops']:,}")
        return figures

    return main_guard(run, parser, argv, settings)


if __name__ == "__main__":
    main()
