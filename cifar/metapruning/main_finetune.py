"""Fine-tune the searched network's PruningNet-generated weights (the arm the paper does not run): 40 epochs
at a constant lr of 0.001, label smoothing 0.1."""
from common.arms import finetune

if __name__ == "__main__":
    finetune("metapruning", epochs=40, lr=0.001, batch_size=128, weight_decay=4e-5, schedule="constant")
