"""Fine-tune a shallower SSS ResNet on ImageNet: 20 epochs at lr 0.001 (the L1-norm ImageNet arm; the SSS
paper trains once and does not fine-tune), batch 256, weight decay 1e-4.
"""
from common.arms import finetune

if __name__ == "__main__":
    finetune("sss", epochs=20, lr=0.001, batch_size=256, lr_batch=256, weight_decay=1e-4, schedule="constant")
