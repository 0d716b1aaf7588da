"""Fine-tune a weight-level pruned model: 40 epochs at a constant lr of 0.001 (the original code);
the engine keeps the mask applied, so pruned weights stay zero."""
from common.arms import finetune

if __name__ == "__main__":
    finetune("weight-level", epochs=40, lr=0.001, batch_size=64, weight_decay=1e-4, schedule="constant")
