"""Soft Filter Pruning on ImageNet, after training: the zero filters of each bottleneck's first two convs
go (with the next conv's inputs); those of the stem and the third convs stay, held at zero by a mask.
"""
from common.arms import prune

if __name__ == "__main__":
    prune("soft-filter")
