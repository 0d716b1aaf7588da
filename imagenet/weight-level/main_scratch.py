"""Train a weight-level pruned network (its mask) from scratch on ImageNet: --budget E: 90 epochs, x0.1 at
30 and 60; --budget B: int(90 x FLOPs(dense) / FLOPs(non-zero)) epochs, uncapped (the original's ImageNet
Scratch-B counted the dense FLOPs, so its ratio was 1 -- a second Scratch-E -- or it crashed). The
surviving weights are He-initialised for their fan (--dense-init: the arch's own).
"""
from common.arms import scratch

if __name__ == "__main__":
    scratch("weight-level", epochs=90, lr=0.1, batch_size=256, lr_batch=256, weight_decay=1e-4,
            milestones=(1 / 3, 2 / 3))
