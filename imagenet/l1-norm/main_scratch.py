"""Train a pruned ResNet-34 architecture from scratch on ImageNet.

--budget E: 90 epochs, lr 0.1 x0.1 at 30 and 60. --budget B: the original's ImageNet rule, epochs
90 x min(FLOPs ratio, 2) (ResNet-34-A: 106, -B: 118; 180 at ratio >= 2), the lr decayed at a third and
two thirds of them (the original's step int(E/3) also decays a third time in the last 1-2 epochs when
E is not a multiple of 3, e.g. at epoch 105 of 106: not reproduced, see README).
"""
from common.arms import scratch

if __name__ == "__main__":
    scratch("l1-norm", epochs=90, lr=0.1, batch_size=256, lr_batch=256, weight_decay=1e-4,
            milestones=(1 / 3, 2 / 3), budget_cap=2.0)
