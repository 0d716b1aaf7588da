"""MetaPruning, step 1: train the PruningNet of MobileNet V2 (CIFAR strides) -- one weight generator per
conv, a new random width encoding every batch (Liu et al. 2019, Sec. 3.2), label smoothing 0.1.

Our CIFAR recipe (the paper has none): 40 epochs (a quarter of a normal run, the authors' rule of thumb),
batch 128, lr 0.1 decayed linearly to 0, momentum 0.9, no weight decay (as the authors' MobileNet V2).
--holdout N training images (default 50 per class) are kept out for the search's fitness; --width W
scales the search space (small-scale runs). Archs: mobilenet_v2_cifar.
"""
from common.arms import train

if __name__ == "__main__":
    train("metapruning", arch="mobilenet_v2_cifar", epochs=40, lr=0.1, batch_size=128, weight_decay=0.0,
          schedule="linear")
