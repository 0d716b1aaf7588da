#!/usr/bin/env python
"""Fetch pretrained checkpoints listed in checkpoints/manifest.json into checkpoints/<name>.pt, in this
codebase's format (arch, cfg, dataset, metadata), ready for ``prune.py --checkpoint`` (``common.zoo``)::

    python scripts/download_checkpoints.py --list
    python scripts/download_checkpoints.py resnet34 [vgg16_bn ...]     # torchvision's, hash-checked
    python scripts/download_checkpoints.py --all                       # every entry that can be fetched
    python scripts/download_checkpoints.py l1-norm-resnet34-a-finetune --file model_best.pth.tar

A download is checked against its sha256 before it is used and continues where an interrupted one
stopped; nothing unverified is ever left under the final name. Entries on Google Drive (the original
repo's models, "Drive" in --list) are fetched with gdown when it is installed (pip install gdown), else
downloaded in a browser and converted with --file; their hash is checked when the manifest knows it and
printed after the first download otherwise. MXNet files (the SSS models) are listed, not converted.
"""

import sys
from pathlib import Path

from common.settings import ArgumentParser, main_guard
from common.errors import UserError
from common.zoo import MANIFEST, ROOT, fetch, load_manifest, source_of


def progress(done: int, total: int):
    if sys.stderr.isatty():
        sys.stderr.write(f"\r  {done / 1e6:.1f} / {total / 1e6:.1f} MB" if total else f"\r  {done / 1e6:.1f} MB")


def main(argv=None):
    p = ArgumentParser(description=__doc__)
    p.add_argument("names", nargs="*", help="manifest entries to fetch")
    p.add_argument("--list", action="store_true", help="list the entries")
    p.add_argument("--all", action="store_true", help="fetch every entry that can be fetched automatically")
    p.add_argument("--file", default=None, help="convert this downloaded file (one name) instead of fetching it")
    p.add_argument("--manifest", default=str(MANIFEST), help="the manifest (default checkpoints/manifest.json)")
    p.add_argument("--dir", default=str(ROOT / "checkpoints"), help="where checkpoints land (default checkpoints/)")

    def run(args):
        manifest = load_manifest(args.manifest)
        if args.list:
            for name, e in manifest.items():
                how = (e["format"] if e.get("format", "pytorch") != "pytorch" else "Drive" if e.get("manual")
                       else "download")
                acc = e.get("top1") or source_of(e).get("top1")
                top1 = f"top-1 {acc:.2f}" if acc else ""
                print(f"{name:40s} {e['arch']:18s} {how:9s} {top1:12s} {e.get('description', '')}")
            return
        names = ([n for n, e in manifest.items() if not e.get("manual") and e.get("format", "pytorch") == "pytorch"]
                 if args.all else args.names)
        if not names:
            raise UserError("name the checkpoints to fetch, or give --all or --list")
        if args.file and len(names) != 1:
            raise UserError("--file converts one checkpoint: name exactly one")
        if args.file and not Path(args.file).is_file():
            raise UserError(f"--file {args.file} does not exist")
        for name in names:
            out = fetch(name, args.dir, manifest, file=args.file, progress=progress)
            print(f"{name}: {out}")

    main_guard(run, p, argv)


if __name__ == "__main__":
    main()
