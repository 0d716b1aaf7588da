#!/usr/bin/env python
"""Parameters and FLOPs (conv + linear multiply-accumulates, ``common.flops``) of a model::

    python scripts/count_flops.py --dataset cifar10 --arch vgg16 [--cfg JSON] [--json]
    python scripts/count_flops.py --checkpoint runs/.../pruned.pt [--json]
"""

import json

from common.checkpoint import load_checkpoint, model_from_checkpoint
from common.settings import ArgumentParser, main_guard, parse_cfg
from common.data import dataset_info
from common.errors import UserError
from common.flops import count_flops, count_params
from common.models import build_model, check_kind


def main(argv=None):
    parser = ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--arch", default=None, help="model name (see common.models.list_archs)")
    parser.add_argument("--cfg", default=None, help="width config as a JSON list")
    parser.add_argument("--checkpoint", default=None, help="count the model stored in this checkpoint")
    parser.add_argument("--nonzero", action="store_true", help="count only non-zero weights")
    parser.add_argument("--json", action="store_true", help="print one JSON object")

    def run(args):
        if args.checkpoint:
            if args.cfg:
                raise UserError("give --cfg or --checkpoint, not both")
            ckpt = load_checkpoint(args.checkpoint, expect_arch=args.arch)
            model = model_from_checkpoint(ckpt)
            info = dataset_info(ckpt["dataset"])
            nonzero = args.nonzero or ckpt.get("mask") is not None
        else:
            if not args.arch:
                raise UserError("--arch is required without --checkpoint")
            info = dataset_info(args.dataset)
            check_kind(args.arch, info.kind, args.dataset)
            model = build_model(args.arch, info.num_classes, info.in_channels, parse_cfg(args.cfg))
            nonzero = args.nonzero
        params, flops = count_params(model, nonzero), count_flops(model, info.input_size, nonzero)
        if args.json:
            print(json.dumps({"arch": model.arch, "cfg": model.cfg, "params": params, "flops": flops}))
        else:
            print(f"{model.arch}: params {params:,} ({params / 1e6:.3f}M), "
                  f"FLOPs {flops:,} ({flops / 1e6:.2f}M MACs)")

    main_guard(run, parser, argv)


if __name__ == "__main__":
    main()
