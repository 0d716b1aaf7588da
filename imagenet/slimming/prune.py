"""Network Slimming on ImageNet, step 2: one global threshold over the BN scales of the conv and FC
layers removes --percent of their channels (default 0.5, the original's ImageNet setting); every layer
keeps at least one channel (--min-keep F: ceil(F x width)), where the original crashed.
"""
from common.arms import prune

if __name__ == "__main__":
    prune("slimming")
