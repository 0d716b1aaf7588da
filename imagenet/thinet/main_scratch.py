"""Train a ThiNet architecture from scratch on ImageNet (the original's imagenet/thinet): --budget E: 90
epochs, x0.1 at 30 and 60; --budget B: 90 x min(FLOPs ratio, 2) epochs (180 for ThiNet-Conv/GAP/Tiny and
ThiNet-50/30, 141 for ThiNet-70), x0.1 at a third and two thirds. lr 0.1 per 256 images; 0.01 for the VGGs
without BN (the original's README): the table script passes --lr 0.01 for them.
"""
from common.arms import scratch

if __name__ == "__main__":
    scratch("thinet", epochs=90, lr=0.1, batch_size=256, lr_batch=256, weight_decay=1e-4, milestones=(1 / 3, 2 / 3),
            budget_cap=2.0)
