"""Train the searched architecture from scratch on ImageNet -- MetaPruning's own last step (spec B.5).
The authors' MobileNet recipe: 256 epochs (--budget E; B: x FLOPs(full) / FLOPs(searched)), batch 1024,
lr 0.5 decayed linearly to 0, weight decay 4e-5, label smoothing 0.1. ResNet-50: --epochs 128
--batch-size 512 --lr 0.2 --schedule step --milestones 0.25 0.5 0.75 --weight-decay 1e-4.
"""
from common.arms import scratch

if __name__ == "__main__":
    scratch("metapruning", epochs=256, lr=0.5, batch_size=1024, lr_batch=1024,
            weight_decay=4e-5, schedule="linear")
