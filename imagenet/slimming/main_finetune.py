"""Fine-tune a slimmed VGG-11 on ImageNet: 5 epochs at lr 0.001 (the original's; its step schedule
never decays within them), batch 256, weight decay 1e-4.
"""
from common.arms import finetune

if __name__ == "__main__":
    finetune("slimming", epochs=5, lr=0.001, batch_size=256, lr_batch=256, weight_decay=1e-4, schedule="constant")
