"""Prune VGG-16 or ResNet-50 with ThiNet (Luo et al. 2017): layer by layer, the channels the next layer
can best do without (greedy, Alg. 1) are removed and the rest rescaled by least squares (Eq. 7).
ThiNet-Conv: --r 0.5 on conv1_1 ... conv4_3 of VGG-16; ThiNet-70/50/30: --r 0.7/0.5/0.3 on the first
two convs of every bottleneck of ResNet-50. --images 10000 and --finetune-iters 10000 are the paper's
(10 images per class; about an epoch between layers); the defaults are smaller.
--published thinet-conv|thinet-gap|thinet-tiny|thinet-70|thinet-50|thinet-30 builds the paper's
architecture without pruning anything, for main_scratch.py (the original code's Scratch-E/B rows).
"""
from common.arms import prune

if __name__ == "__main__":
    prune("thinet", dataset="imagenet")
