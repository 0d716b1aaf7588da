"""Fine-tune the pruned SFP network (not part of the SFP paper, which trains once): 40 epochs
at a constant lr of 0.001, the SFP optimiser otherwise; its remaining zero filters stay zero."""
from common.arms import finetune_main
from common.pruning.sfp import RECIPE

if __name__ == "__main__":
    finetune_main("soft-filter",
                  **{**RECIPE, "epochs": 40, "lr": 0.001, "schedule": "constant", "warmup_epochs": 0})
