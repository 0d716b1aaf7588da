"""Prune a trained model by the first-order Taylor criterion (Molchanov et al., ICLR 2017, Eq. 8): a channel's
score is |mean over its feature map of activation x gradient of the loss|, summed over --images class-balanced
training images. Selection: --variant A|B (the L1-norm paper's per-layer plan: the same widths as L1-norm
pruning), --ratio R (every prunable layer by R) or --percent P (one threshold over the layer-normalised scores,
Sec. 2.3). One shot: the paper's iterative loop (prune one map, fine-tune, repeat) is not reproduced.
"""
from common.arms import prune

if __name__ == "__main__":
    prune("taylor")
