"""Train the shallower SSS architecture from scratch.

--budget E: 160 epochs. --budget B: int(160 x FLOPs(base) / FLOPs(pruned)) epochs, uncapped,
lr x0.1 at 50% and 75% of them (the SSS README stretches each lr stage by the same ratio).
"""
from common.arms import scratch_main

if __name__ == "__main__":
    scratch_main("sss", epochs=160, lr=0.1)
