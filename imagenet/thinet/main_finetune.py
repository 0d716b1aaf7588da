"""Fine-tune a ThiNet-pruned model on ImageNet, as the paper after its last layer: 12 epochs (its 120,000
iterations at batch 128), lr 0.001 per 256 images x0.1 after a third and two thirds, weight decay 1e-4.
"""
from common.arms import finetune

if __name__ == "__main__":
    finetune("thinet", epochs=12, lr=0.001, batch_size=256, lr_batch=256, weight_decay=1e-4,
             milestones=(1 / 3, 2 / 3))
