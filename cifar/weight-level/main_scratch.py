"""Train a weight-level pruned network (same mask) from scratch.

--budget E: 160 epochs. --budget B: int(160 x FLOPs(dense) / FLOPs(non-zero of the pruned
model)) epochs, lr x0.1 at 50% and 75% of them. Every masked conv is initialised as He et al.
for its surviving connections, N(0, sqrt(2 / (nnz / C_in))), as the original code
(--dense-init: the arch's own initialisation, then the mask).
"""
from common.arms import scratch

if __name__ == "__main__":
    scratch("weight-level", epochs=160, lr=0.1, batch_size=64, weight_decay=1e-4)
