"""GMP, gradual magnitude pruning during training (Zhu & Gupta 2017), the baseline IMP is
compared with (Zimmer et al. 2023, Sec. A.7 of the spec).

Trains from scratch for --epochs T; at the end of epochs t = k D (k = 1..n, n = floor(T/D) - 1,
D = --prune-every) prunes the conv and linear weights globally to S (1 - (1 - t/(nD))^3),
S = --sparsity; the last D or more epochs train at full sparsity.
"""
from common.arms import train

if __name__ == "__main__":
    train("imp", training="gmp", arch="resnet56", epochs=160, lr=0.1, batch_size=64, weight_decay=1e-4)
