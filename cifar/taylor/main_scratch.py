"""Train a Taylor-pruned architecture from scratch.

--budget E: the baseline's 160 epochs. --budget B: int(160 x FLOPs(base) / FLOPs(pruned)) epochs, lr x0.1 at
50% and 75% of them (Liu et al.'s CIFAR rule).
"""
from common.arms import scratch

if __name__ == "__main__":
    scratch("taylor", epochs=160, lr=0.1, batch_size=64, weight_decay=1e-4)
