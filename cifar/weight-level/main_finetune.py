"""Fine-tune a weight-level pruned model: 40 epochs at a constant lr of 0.001 (the original code);
the engine keeps the mask applied, so pruned weights stay zero."""
from common.arms import finetune_main

if __name__ == "__main__":
    finetune_main("weight-level", epochs=40, lr=0.001, schedule="constant")
