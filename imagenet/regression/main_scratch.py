"""Train a regression-pruned architecture from scratch on ImageNet (the original's
imagenet/regression-pruning): --budget E: 90 epochs, x0.1 at 30 and 60; --budget B: 90 x min(FLOPs
ratio, 2) (VGG-16-5x: 180; ResNet-50-2x: 134, the original's README says 132), x0.1 at a third and two
thirds. lr 0.1 per 256 images; 0.01 for VGG-16 without BN (the table script passes --lr 0.01).
"""
from common.arms import scratch

if __name__ == "__main__":
    scratch("regression", epochs=90, lr=0.1, batch_size=256, lr_batch=256, weight_decay=1e-4,
            milestones=(1 / 3, 2 / 3), budget_cap=2.0)
