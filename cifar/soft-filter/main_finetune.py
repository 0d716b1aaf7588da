"""Fine-tune the pruned SFP network (not part of the SFP paper, which trains once): 40 epochs
at a constant lr of 0.001, the SFP optimiser otherwise; its remaining zero filters stay zero."""
from common.arms import finetune

if __name__ == "__main__":
    finetune("soft-filter", epochs=40, lr=0.001, batch_size=128, weight_decay=5e-4, schedule="constant",
             nesterov=True)
