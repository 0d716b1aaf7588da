"""Fine-tune a Taylor-pruned model: 40 epochs at a constant lr of 0.001 (the L1-norm recipe of Liu et al.)."""
from common.arms import finetune

if __name__ == "__main__":
    finetune("taylor", epochs=40, lr=0.001, batch_size=64, weight_decay=1e-4, schedule="constant")
