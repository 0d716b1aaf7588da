"""The random re-initialisation of a Lottery Ticket round on ImageNet, trained from scratch with its mask:
--budget E: 90 epochs; --budget B: int(90 x FLOPs(dense) / FLOPs(non-zero)). The winning ticket (reset to
theta_K) is trained by main.py, which keeps theta_K.
"""
from common.arms import scratch

if __name__ == "__main__":
    scratch("lottery-ticket", epochs=90, lr=0.1, batch_size=256, lr_batch=256, weight_decay=1e-4,
            milestones=(1 / 3, 2 / 3))
