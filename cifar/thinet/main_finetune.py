"""Fine-tune a ThiNet-pruned model: 40 epochs at a constant lr of 0.001, the CIFAR fine-tuning
of the rethinking comparison (the paper fine-tunes ImageNet
models 120k iterations at lr 1e-3, x0.1 at 40k and 80k).
"""
from common.arms import finetune

if __name__ == "__main__":
    finetune("thinet", epochs=40, lr=0.001, batch_size=64, weight_decay=1e-4, schedule="constant")
