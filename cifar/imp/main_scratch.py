"""Train an IMP mask from scratch: --budget E: 160 epochs; --budget B: int(160 x FLOPs(dense) /
FLOPs(non-zero)) epochs, lr x0.1 at 50% and 75% of them. The surviving conv weights are initialised
as He et al. for their fan (as the weight-level Scratch-E/B; --dense-init: the arch's own)."""
from common.arms import scratch

if __name__ == "__main__":
    scratch("imp", epochs=160, lr=0.1, batch_size=64, weight_decay=1e-4)
