"""Train a slimmed VGG-11 from scratch on ImageNet: --budget E: 90 epochs, x0.1 at 30 and 60; --budget
B: int(90 x FLOPs ratio) epochs, uncapped, as the original's imagenet/network-slimming (x0.1 at a third
and two thirds of them).
"""
from common.arms import scratch

if __name__ == "__main__":
    scratch("slimming", epochs=90, lr=0.1, batch_size=256, lr_batch=256, weight_decay=1e-4,
            milestones=(1 / 3, 2 / 3))
