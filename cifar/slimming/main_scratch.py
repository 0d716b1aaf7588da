"""Train a slimmed architecture from scratch (channel selections kept, weights re-initialised).

--budget E: the baseline's 160 epochs. --budget B: int(160 x FLOPs(base) / FLOPs(pruned))
epochs, uncapped, lr x0.1 at 50% and 75% of them (as the original CIFAR code).
"""
from common.arms import scratch

if __name__ == "__main__":
    scratch("slimming", epochs=160, lr=0.1, batch_size=64, weight_decay=1e-4)
