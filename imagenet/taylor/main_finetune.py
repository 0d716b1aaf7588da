"""Fine-tune a Taylor-pruned ResNet-34 on ImageNet: 20 epochs at lr 0.001, batch 256, weight decay 1e-4 (the
L1-norm recipe)."""
from common.arms import finetune

if __name__ == "__main__":
    finetune("taylor", epochs=20, lr=0.001, batch_size=256, lr_batch=256, weight_decay=1e-4, schedule="constant")
