"""Prune a trained model by LASSO channel selection + least-squares reconstruction (He et al. 2017),
layer by layer (common/pruning/regression.py), to a target FLOPs speed-up.

Takes a baseline of this folder or of cifar/l1-norm (the same recipe). Per pruned layer it
prints the channels kept, the relative reconstruction error of the layer's output before and
after least squares, and the time taken; all of it also lands in result.json.
"""
from common.arms import prune

if __name__ == "__main__":
    prune("regression")
