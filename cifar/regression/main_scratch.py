"""Train a regression-pruned architecture from scratch.

--budget E: the baseline's 160 epochs. --budget B: int(160 x FLOPs(base) / FLOPs(pruned))
epochs, lr x0.1 at 50% and 75% of them.
"""
from common.arms import scratch_main

if __name__ == "__main__":
    scratch_main("regression", epochs=160, lr=0.1)
