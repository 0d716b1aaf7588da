"""Soft Filter Pruning, after training: remove what can be removed.

The zero filters of each block's first conv go away with the matching inputs of the
block's second conv; the zero filters of the stem and of each block's second conv feed the
residual stream and stay, as zeros held by a keep-mask in the pruned checkpoint. Prints
the SFP network's accuracy as trained and that of the smaller network.
"""
from common.arms import prune_main
from common.errors import UserError
from common.pruning.sfp import remove_zero_filters


def check_sfp_trained(args, model, ckpt):
    if ckpt["arm"] != "sfp":
        raise UserError(f"{args.checkpoint} is a {ckpt['arm']} run, not trained with soft filter pruning; "
                        f"train with cifar/soft-filter/main.py --rate P first")


def prune(args, model, ckpt, loaders):
    pruned, mask, report = remove_zero_filters(model)
    report["rate"] = ckpt["args"].get("rate")
    return {"model": pruned, "variant": ckpt["meta"]["variant"], "mask": mask, "report": report}


if __name__ == "__main__":
    prune_main("soft-filter", prune_fn=prune, prepare_fn=check_sfp_trained)
