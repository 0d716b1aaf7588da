#!/usr/bin/env python
"""Write a small dataset as an ImageNet-style image folder of JPEG files, so the ImageNet code path
(decode, RandomResizedCrop, workers, DDP) runs offline on real images::

    python scripts/make_image_folder.py --dataset fashion-mnist --out data/fashion-mnist-jpeg \\
        [--train-per-class 600] [--val-per-class 100] [--size 32] [--quality 90]

writes ``OUT/train/<k>_<class>/<i>.JPEG`` and ``OUT/val/...`` (the first images of each class of the
training and test splits; Fashion-MNIST's 28x28 grey images zero-padded to 32x32 and stored as RGB).
Train on it with ``--dataset fashion-mnist-jpeg --data-dir OUT`` (``cifar10`` -> ``cifar10-jpeg``).
``--imagenet-classes`` spreads the images over 1000 class folders (``n00000000`` ... ``n00000999``) instead, so
that ``--dataset imagenet --data-dir OUT`` accepts the folder: an offline smoke test of an ImageNet checkpoint
(``scripts/evaluate.py``; its accuracy there means nothing). The folder appears complete or not at all.
"""

import shutil
from pathlib import Path

import torch

from common.settings import ArgumentParser, main_guard, positive_int
from common.data import load_split
from common.errors import UserError

CLASSES = {
    "fashion-mnist": ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                      "ankle_boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}


def write_split(images, labels, root: Path, per_class: int, names, size: int, quality: int) -> int:
    import torchvision.transforms.v2.functional as TF
    from torchvision.io import encode_jpeg, write_file

    written = 0
    for k, name in enumerate(names):
        folder = root / (name if name.startswith("n0") else f"{k}_{name}")
        folder.mkdir(parents=True)
        for i in torch.nonzero(labels == k).flatten()[:per_class].tolist():
            image = images[i].expand(3, -1, -1) if images.shape[1] == 1 else images[i]
            if size != image.shape[-1]:
                image = TF.resize(image, [size, size], antialias=True)
            write_file(str(folder / f"{i:05d}.JPEG"), encode_jpeg(image.contiguous(), quality=quality))
            written += 1
    return written


def main(argv=None):
    p = ArgumentParser(description=__doc__)
    p.add_argument("--dataset", choices=sorted(CLASSES), default="fashion-mnist")
    p.add_argument("--data-dir", default="data", help="where the source dataset is (as for training)")
    p.add_argument("--out", required=True, help="the image folder to write")
    p.add_argument("--train-per-class", type=positive_int, default=600)
    p.add_argument("--val-per-class", type=positive_int, default=100)
    p.add_argument("--size", type=positive_int, default=32, help="side of the written images (default 32)")
    p.add_argument("--quality", type=positive_int, default=90, help="JPEG quality (default 90)")
    p.add_argument("--imagenet-classes", action="store_true",
                   help="1000 class folders named like ImageNet's, for a smoke test of an ImageNet checkpoint")

    def run(args):
        out = Path(args.out)
        if out.exists():
            raise UserError(f"{out} exists; remove it or choose another --out")
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            counts = []
            for split, train, per_class in (("train", True, args.train_per_class), ("val", False, args.val_per_class)):
                images, labels = load_split(args.dataset, args.data_dir, train=train)
                names = CLASSES[args.dataset]
                if args.imagenet_classes:           # the images dealt out over 1000 classes: labels mean nothing
                    names, labels = [f"n{k:08d}" for k in range(1000)], torch.arange(len(labels)) % 1000
                    if len(images) < 1000 * per_class:
                        raise UserError(f"{args.dataset}'s {split} split has {len(images)} images: not {per_class} "
                                        f"for each of 1000 classes")
                counts.append(write_split(images, labels, tmp / split, per_class, names, args.size, args.quality))
            tmp.rename(out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"{out}: {counts[0]} training and {counts[1]} validation images, {args.size}x{args.size} JPEG")

    main_guard(run, p, argv)


if __name__ == "__main__":
    main()
