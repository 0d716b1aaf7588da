"""Fine-tune the pruned SFP ResNet-50 on ImageNet (not part of SFP, which trains once): 20 epochs at lr
0.001, batch 256; its remaining zero filters stay zero."""
from common.arms import finetune

if __name__ == "__main__":
    finetune("soft-filter", epochs=20, lr=0.001, batch_size=256, lr_batch=256, weight_decay=1e-4,
             schedule="constant")
