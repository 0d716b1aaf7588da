"""Train a shallower SSS ResNet from scratch on ImageNet, as the rethinking repo's README: --budget E: 100
epochs, x0.1 at 30, 60, 90; --budget B: each lr stage stretched by the FLOPs ratio, int(100 x ratio)
epochs (ResNet-41: 117, ResNet-32: 145, ResNet-26: 179), x0.1 at 30%, 60% and 90% of them.
"""
from common.arms import scratch

if __name__ == "__main__":
    scratch("sss", epochs=100, lr=0.1, batch_size=256, lr_batch=256, weight_decay=1e-4, milestones=(0.3, 0.6, 0.9))
