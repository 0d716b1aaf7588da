"""Fine-tune a slimmed network: 40 epochs at a constant lr of 0.001 (the original code).

--sparsity LAMBDA keeps the L1 penalty on (the original's -sr); off by default.
"""
from common.arms import finetune

if __name__ == "__main__":
    finetune("slimming", epochs=40, lr=0.001, batch_size=64, weight_decay=1e-4, schedule="constant")
