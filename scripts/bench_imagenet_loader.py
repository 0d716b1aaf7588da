#!/usr/bin/env python
"""Images/s of the ImageNet training pipeline (common/data/imagenet.py) against the original's
(PIL ``ImageFolder`` + torchvision transforms: RandomResizedCrop(224), flip, ToTensor, Normalize), on
the same generated full-size JPEGs (about 500x375, ImageNet's typical size), the same number of
workers and batch, in the same run; then, in one process, what bounds each (read, decode,
crop + resize, to float + normalise, collate)::

    python scripts/bench_imagenet_loader.py [--images 512] [--workers 2] [--batch-size 64] [--size 224]
                                            [--device cpu|cuda] [--keep DIR]

With ``--device cuda`` ours also runs with the JPEGs decoded on the GPU (``--gpu-decode``).
"""

import shutil
import tempfile
import time
from pathlib import Path

import torch

from common.settings import ArgumentParser, main_guard, positive_int
from common.data import dataset_info
from common.data.imagenet import StreamLoader, decode, image_list, train_view


def photo_jpeg(g: torch.Generator) -> torch.Tensor:
    """The bytes of a photo-like 500x375 JPEG (smooth colour fields plus grain, ~100 KB at quality 90)."""
    import torch.nn.functional as F
    from torchvision.io import encode_jpeg

    low = torch.rand(1, 3, 6, 8, generator=g)
    image = F.interpolate(low, size=(375, 500), mode="bicubic", align_corners=False)[0]
    image = (image + 0.08 * torch.randn(image.shape, generator=g)).clamp(0, 1)
    return encode_jpeg((image * 255).to(torch.uint8), quality=90)


def write_jpegs(root: Path, n: int, classes: int = 10, seed: int = 0):
    """``n`` training images over ``classes`` folders, and one validation image per class."""
    from torchvision.io import write_file

    g = torch.Generator().manual_seed(seed)
    for split, count in (("train", n), ("val", classes)):
        for i in range(count):
            folder = root / split / f"c{i % classes:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            write_file(str(folder / f"{i:05d}.JPEG"), photo_jpeg(g))


def original_loader(root: Path, batch: int, workers: int, size: int):
    import torchvision.datasets as tvd
    import torchvision.transforms as T

    info = dataset_info("imagenet")
    transform = T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize(info.mean, info.std)])
    return torch.utils.data.DataLoader(tvd.ImageFolder(str(root / "train"), transform), batch_size=batch,
                                       shuffle=True, num_workers=workers, pin_memory=False, drop_last=True,
                                       persistent_workers=workers > 0)


def images_per_s(loader, device, epochs: int = 2) -> float:
    """The best of ``epochs`` timed epochs (after a warm-up one that starts the workers)."""
    best = 0.0
    for epoch in range(epochs + 1):
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        t0, n = time.perf_counter(), 0
        for x, y in loader:
            x = x.to(device, non_blocking=True)
            n += y.numel()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if epoch:
            best = max(best, n / (time.perf_counter() - t0))
    return best


def stages(root: Path, size: int, count: int = 64):
    """Seconds per image of each stage, both pipelines, in this process."""
    import torchvision.transforms as T
    from PIL import Image
    from torchvision.io import decode_image, read_file

    paths = [p for p, _ in image_list(_Info(), root, "train")[0]][:count]
    out = {}

    def timed(name, fn):
        t0 = time.perf_counter()
        results = [fn(p) for p in paths]
        out[name] = (time.perf_counter() - t0) / len(paths)
        return results

    raw = timed("ours: read", lambda p: read_file(p))
    images = [decode_image(r) for r in raw]
    timed("ours: decode (libjpeg-turbo)", lambda p: decode(p))
    g = torch.Generator().manual_seed(0)
    crops = [train_view(im, size, g) for im in images[:1]]
    t0 = time.perf_counter()
    crops = [train_view(im, size, g) for im in images]
    out["ours: crop + resize (uint8)"] = (time.perf_counter() - t0) / len(paths)
    info = dataset_info("imagenet")
    scale = 1 / (255 * torch.tensor(info.std).view(1, 3, 1, 1))
    shift = -torch.tensor(info.mean).view(1, 3, 1, 1) * scale * 255
    t0 = time.perf_counter()
    batch = torch.stack(crops)
    out["ours: collate (uint8)"] = (time.perf_counter() - t0) / len(paths)
    t0 = time.perf_counter()
    torch.addcmul(shift, batch, scale)
    out["ours: to float + normalise (per batch)"] = (time.perf_counter() - t0) / len(paths)
    pil = timed("original: PIL open + decode", lambda p: Image.open(p).convert("RGB"))
    crop = T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip()])
    t0 = time.perf_counter()
    pcrops = [crop(im) for im in pil]
    out["original: crop + resize (PIL)"] = (time.perf_counter() - t0) / len(paths)
    tensor = T.Compose([T.ToTensor(), T.Normalize(info.mean, info.std)])
    t0 = time.perf_counter()
    tensors = [tensor(im) for im in pcrops]
    out["original: ToTensor + Normalize"] = (time.perf_counter() - t0) / len(paths)
    t0 = time.perf_counter()
    torch.stack(tensors)
    out["original: collate (float32)"] = (time.perf_counter() - t0) / len(paths)
    return out


class _Uint8:
    """The loader's worker output, before the device-side normalisation."""

    def __init__(self, loader):
        self.loader = loader

    def set_epoch(self, epoch):
        self.loader.set_epoch(epoch)

    def __iter__(self):
        return iter(self.loader.loader)


class _Info:
    """The ImageNet entry with 10 classes (the generated folder's)."""

    def __getattr__(self, name):
        info = dataset_info("imagenet")
        return 10 if name == "num_classes" else getattr(info, name)


def main(argv=None):
    p = ArgumentParser(description=__doc__)
    p.add_argument("--images", type=positive_int, default=512)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--size", type=positive_int, default=224)
    p.add_argument("--device", default="cpu")
    p.add_argument("--keep", default=None, help="write (or reuse) the JPEGs here instead of a temporary folder")

    def run(args):
        device = torch.device(args.device)
        root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-imagenet-"))
        try:
            if not (root / "train").is_dir():
                write_jpegs(root, args.images)
            mb = sum(f.stat().st_size for f in (root / "train").rglob("*.JPEG")) / 1e6
            print(f"{args.images} JPEGs of 500x375 ({mb / args.images * 1000:.0f} KB each), batch {args.batch_size}, "
                  f"{args.workers} workers, crops {args.size}x{args.size}, device {device}")
            samples, _ = image_list(_Info(), root, "train")
            info = dataset_info("imagenet")
            ours = StreamLoader(info, samples, args.batch_size, True, device=device, size=args.size,
                                workers=args.workers)
            theirs = original_loader(root, args.batch_size, args.workers, args.size)
            rate_workers = images_per_s(_Uint8(ours), device)
            rate_ours, rate_theirs = images_per_s(ours, device), images_per_s(theirs, device)
            per = max(1, args.workers)
            print(f"  ours, the workers' uint8 batches (what a GPU receives): {rate_workers:7.0f} img/s "
                  f"({rate_workers / per:.0f} per worker)")
            print(f"  ours, normalised to float on {device}:                  {rate_ours:7.0f} img/s")
            print(f"  original (PIL + transforms, float batches):            {rate_theirs:7.0f} img/s "
                  f"({rate_theirs / per:.0f} per worker)")
            print(f"  ratio per worker: {rate_workers / rate_theirs:.2f}x; with the normalisation on this device: "
                  f"{rate_ours / rate_theirs:.2f}x")
            if device.type == "cuda":
                gpu = StreamLoader(info, samples, args.batch_size, True, device=device, size=args.size,
                                   workers=args.workers, gpu_decode=True)
                print(f"  ours, GPU decode: {images_per_s(gpu, device):7.0f} img/s")
            print("one process, milliseconds per image:")
            for name, seconds in stages(root, args.size).items():
                print(f"  {name:42s} {1000 * seconds:7.2f}")
        finally:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)

    main_guard(run, p, argv)


if __name__ == "__main__":
    main()
