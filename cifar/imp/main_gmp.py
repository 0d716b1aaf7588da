"""GMP, gradual magnitude pruning during training (Zhu & Gupta 2017), the baseline IMP is
compared with (Zimmer et al. 2023, Sec. A.7 of the spec).

Trains from scratch for --epochs T; at the end of epochs t = k D (k = 1..n, n = floor(T/D) - 1,
D = --prune-every) prunes the conv and linear weights globally to S (1 - (1 - t/(nD))^3),
S = --sparsity; the last D or more epochs train at full sparsity.
"""
from common.arms import baseline_main
from common.cli import fraction, positive_int
from common.pruning.imp import GMP


def add_args(p):
    p.add_argument("--sparsity", type=fraction, required=True, help="goal sparsity S in [0, 1)")
    p.add_argument("--prune-every", type=positive_int, default=4, help="pruning interval D in epochs (default 4)")


if __name__ == "__main__":
    baseline_main("imp", arch="resnet56", epochs=160, lr=0.1, batch_size=64, weight_decay=1e-4, arm="GMP",
                  add_args=add_args, make_hooks=lambda a, m: [GMP(a.sparsity, a.prune_every, a.epochs)],
                  variant=lambda a: f"S{a.sparsity:g}-T{a.epochs}-GMP")
