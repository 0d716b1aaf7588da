"""Prune a trained model by weight magnitude (Han et al. 2015, as in Liu et al. 2019, Sec. 4.3).

--percent p masks out the fraction p of all conv weights with the smallest |w|, by one global
threshold (--layerwise: p inside every conv instead); --include-linear prunes linear weights
too. The pruned checkpoint is the full network with its keep-mask.
"""
from common.arms import prune

if __name__ == "__main__":
    prune("weight-level")
