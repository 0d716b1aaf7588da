"""Train a Taylor-pruned ResNet-34 architecture from scratch on ImageNet: --budget E 90 epochs, lr 0.1 x0.1 at 30
and 60; --budget B 90 x min(FLOPs ratio, 2) epochs, the lr decayed at a third and two thirds of them (the
L1-norm recipe)."""
from common.arms import scratch

if __name__ == "__main__":
    scratch("taylor", epochs=90, lr=0.1, batch_size=256, lr_batch=256, weight_decay=1e-4,
            milestones=(1 / 3, 2 / 3), budget_cap=2.0)
