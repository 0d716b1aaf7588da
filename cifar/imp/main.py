"""Train the dense model for IMP (Zimmer et al. 2023), recording the learning rate of every
iteration (the retraining schedules replay or rescale it).

Default: the CIFAR recipe of this codebase (160 epochs, batch 64, lr 0.1 x0.1 at 50% and 75%,
weight decay 1e-4) on resnet56, the paper's CIFAR-10 model. For BIMP train a shorter dense
run with --schedule linear --epochs T0 (lr decaying linearly to 0).
"""
from common.arms import train

if __name__ == "__main__":
    train("imp", arch="resnet56", epochs=160, lr=0.1, batch_size=64, weight_decay=1e-4)
