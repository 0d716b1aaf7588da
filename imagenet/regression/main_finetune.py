"""Fine-tune a model pruned by regression on ImageNet, as the paper's released solver: 20 epochs (its
200,000 iterations at batch 128), constant lr 1e-5 per 256 images, no weight decay.
"""
from common.arms import finetune

if __name__ == "__main__":
    finetune("regression", epochs=20, lr=1e-5, batch_size=256, lr_batch=256, weight_decay=0.0, schedule="constant")
