"""Fine-tune the pruned SFP network (not part of the SFP paper, which trains once): 40 epochs
at a constant lr of 0.001, the SFP optimiser otherwise; its remaining zero filters stay zero."""
from common.arms import finetune_main
from common.pruning.sfp import RECIPE, KeepMaskHook


def make_hooks(args, model, ckpt):
    return [KeepMaskHook(model, ckpt["mask"])] if ckpt.get("mask") else []


if __name__ == "__main__":
    finetune_main("soft-filter", make_hooks=make_hooks,
                  **{**RECIPE, "epochs": 40, "lr": 0.001, "schedule": "constant", "warmup_epochs": 0})
