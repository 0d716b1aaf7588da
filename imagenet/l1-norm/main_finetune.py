"""Fine-tune a pruned ResNet-34 on ImageNet: 20 epochs at lr 0.001 (the original's main_finetune.py,
whose step schedule never decays within them), batch 256, weight decay 1e-4.
"""
from common.arms import finetune

if __name__ == "__main__":
    finetune("l1-norm", epochs=20, lr=0.001, batch_size=256, lr_batch=256, weight_decay=1e-4, schedule="constant")
