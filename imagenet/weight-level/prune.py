"""Prune VGG-16-BN or ResNet-50 by weight magnitude (Han et al. 2015, as Liu et al. 2019 on ImageNet):
--percent 0.3 or 0.6 of all conv weights, by one global threshold; the full network with its keep-mask.
"""
from common.arms import prune

if __name__ == "__main__":
    prune("weight-level")
