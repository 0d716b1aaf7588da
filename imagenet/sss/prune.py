"""Sparse Structure Selection on ImageNet, after training: remove the blocks whose scale is exactly 0,
the others folded into their branch (the shallower ResNet computes what the trained one computes).
--published resnet-41|resnet-32|resnet-26 builds the paper's pruned ResNet-50s, for main_scratch.py.
"""
from common.arms import prune

if __name__ == "__main__":
    prune("sss", dataset="imagenet")
