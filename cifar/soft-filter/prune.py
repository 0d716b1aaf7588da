"""Soft Filter Pruning, after training: remove what can be removed.

The zero filters of each block's first conv go away with the matching inputs of the
block's second conv; the zero filters of the stem and of each block's second conv feed the
residual stream and stay, as zeros held by a keep-mask in the pruned checkpoint. Prints
the SFP network's accuracy as trained and that of the smaller network.
"""
from common.arms import prune

if __name__ == "__main__":
    prune("soft-filter")
