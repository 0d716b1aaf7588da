"""Fine-tune a pruned L1-norm model: 40 epochs at a constant lr of 0.001 (the original code)."""
from common.arms import finetune

if __name__ == "__main__":
    finetune("l1-norm", epochs=40, lr=0.001, batch_size=64, weight_decay=1e-4, schedule="constant")
