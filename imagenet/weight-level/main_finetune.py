"""Fine-tune a weight-level pruned model on ImageNet: 10 epochs at lr 0.001 (the original's), batch 256,
weight decay 1e-4; the mask stays applied.
"""
from common.arms import finetune

if __name__ == "__main__":
    finetune("weight-level", epochs=10, lr=0.001, batch_size=256, lr_batch=256, weight_decay=1e-4,
             schedule="constant")
