"""Train the shallower SSS architecture from scratch.

--budget E: 160 epochs. --budget B: int(160 x FLOPs(base) / FLOPs(pruned)) epochs, uncapped,
lr x0.1 at 50% and 75% of them (the SSS README stretches each lr stage by the same ratio).
"""
from common.arms import scratch

if __name__ == "__main__":
    scratch("sss", epochs=160, lr=0.1, batch_size=64, weight_decay=1e-4)
