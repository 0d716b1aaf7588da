"""Fine-tune the searched network's PruningNet-generated weights on ImageNet: 20 epochs at a constant
lr of 0.001 per 256 images, label smoothing 0.1 (the arm the paper does not run)."""
from common.arms import finetune

if __name__ == "__main__":
    finetune("metapruning", epochs=20, lr=0.001, batch_size=256, lr_batch=256,
             weight_decay=4e-5, schedule="constant")
