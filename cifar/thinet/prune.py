"""Prune a trained model with ThiNet (Luo et al. 2017), layer by layer (common/pruning/thinet.py).

Takes a baseline of this folder or of cifar/l1-norm (the same recipe). Per pruned layer it
prints the channels kept, the relative reconstruction error of the next layer's output before
and after the least-squares scaling, and the time taken; all of it also lands in result.json.
"""
from common.arms import prune

if __name__ == "__main__":
    prune("thinet")
