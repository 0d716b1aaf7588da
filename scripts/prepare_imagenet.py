#!/usr/bin/env python
"""ImageNet as image folders, ``OUT/train/<wnid>/*.JPEG`` and ``OUT/val/<wnid>/*.JPEG``, from the official
archives (``ILSVRC2012_img_train.tar``, ``ILSVRC2012_img_val.tar``, ``ILSVRC2012_devkit_t12.tar.gz``,
from https://image-net.org). The work is torchvision's (``torchvision.datasets.ImageNet`` parses the
devkit and sorts the validation images into their classes); the archives are linked into OUT, not
copied. Then train with ``--dataset imagenet --data-dir OUT``::

    python scripts/prepare_imagenet.py --archives DIR --out OUT
"""

from pathlib import Path

from common.settings import ArgumentParser, main_guard
from common.errors import UserError

ARCHIVES = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar", "ILSVRC2012_devkit_t12.tar.gz")


def prepare(archives, out) -> Path:
    import torchvision.datasets as tvd

    archives, out = Path(archives), Path(out)
    missing = [n for n in ARCHIVES if not (archives / n).is_file()]
    if missing:
        raise UserError(f"{archives} lacks {', '.join(missing)} (download them from https://image-net.org)")
    out.mkdir(parents=True, exist_ok=True)
    for name in ARCHIVES:
        if not (out / name).exists():
            (out / name).symlink_to((archives / name).resolve())
    for split in ("train", "val"):
        tvd.ImageNet(str(out), split=split)
    return out


def main(argv=None):
    p = ArgumentParser(description=__doc__)
    p.add_argument("--archives", required=True, help="folder holding the official ImageNet archives")
    p.add_argument("--out", required=True, help="where train/ and val/ are made")
    main_guard(lambda args: print(f"ImageNet ready in {prepare(args.archives, args.out)}"), p, argv)


if __name__ == "__main__":
    main()
