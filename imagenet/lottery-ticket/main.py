"""The Lottery Ticket comparison on ImageNet (Liu et al. 2019, Sec. 6; Frankle et al. 2020): winning ticket
vs random re-initialisation of ResNet-18, iterative global magnitude pruning of the conv weights (20% of
the remaining per round), with late rewinding (--rewind-iters K: tickets reset to the weights after K
iterations; at ImageNet scale rewinding to 0 finds no ticket). Run it at --lr 0.1 and --lr 0.01. Each
training: 90 epochs, batch 256, lr x0.1 at 30 and 60, weight decay 1e-4. Run again to continue.
"""
from common.sequences import lottery_sequence

if __name__ == "__main__":
    lottery_sequence("lottery-ticket", arch="resnet18", dataset="imagenet", epochs=90, lr=0.1, batch_size=256,
                     lr_batch=256, weight_decay=1e-4, milestones=(1 / 3, 2 / 3), rewind_iters=5000)
