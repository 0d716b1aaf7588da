"""The random re-initialisation of a Lottery Ticket round, trained from scratch with its mask:
--budget E: 160 epochs; --budget B: int(160 x FLOPs(dense) / FLOPs(non-zero)). Surviving weights are
He-initialised for their fan (Liu et al.'s sparse re-init; --dense-init: the arch's own). The winning
ticket (survivors reset to theta_0) is trained by main.py, which keeps theta_0."""
from common.arms import scratch

if __name__ == "__main__":
    scratch("lottery-ticket", epochs=160, lr=0.1, batch_size=64, weight_decay=1e-4)
