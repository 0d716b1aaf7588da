"""Sparse Structure Selection, after training: remove the blocks whose scale lambda is exactly 0.

The other scales are folded into their branch's last layer, so the shallower network
computes exactly what the trained one computes (a downsampling block keeps its shortcut).
"""
import sys

from common.arms import prune_main
from common.errors import UserError
from common.pruning.sss import fold_lambdas_, lambdas_from_checkpoint, remove_blocks, sss_report


def fold_scales(args, model, ckpt):
    """Before the trained network is evaluated: put its block scales into its weights."""
    found = lambdas_from_checkpoint(ckpt)
    if ckpt["arm"] != "sss" or found is None:
        raise UserError(f"{args.checkpoint} is a {ckpt['arm']} run without block scales; "
                        f"train with cifar/sss/main.py --gamma G first")
    blocks, lam = found
    if blocks != [b.block for b in model.residual_branches()]:
        raise UserError(f"the block scales in {args.checkpoint} do not match its model")
    fold_lambdas_(model, blocks, lam)


def prune(args, model, ckpt, loaders):
    report = sss_report(*lambdas_from_checkpoint(ckpt))
    if not report["removed"]:
        print("warning: no block has lambda = 0, nothing removed (train with a larger --gamma)", file=sys.stderr)
    print(f"removed {len(report['removed'])} of {report['blocks']} blocks: {', '.join(report['removed']) or '-'}")
    return {"model": remove_blocks(model, report["removed"]), "variant": ckpt["meta"]["variant"], "report": report}


if __name__ == "__main__":
    prune_main("sss", prune_fn=prune, prepare_fn=fold_scales)
