"""Fine-tune a model pruned by regression: 40 epochs at a constant lr of 0.001, the CIFAR
fine-tuning of the rethinking comparison. (The paper fine-tunes ImageNet models at lr 1e-5 with
no weight decay: ``--lr 1e-5 --wd 0``.)
"""
from common.arms import finetune

if __name__ == "__main__":
    finetune("regression", epochs=40, lr=0.001, batch_size=64, weight_decay=1e-4, schedule="constant")
