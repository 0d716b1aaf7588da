"""Prune a trained ResNet-34 by the first-order Taylor criterion (Molchanov et al., ICLR 2017, Eq. 8) to the
L1-norm paper's ResNet-34-A or -B widths (--variant), a uniform --ratio, or a global --percent over the
layer-normalised scores. Takes this folder's baseline, the L1-norm one, or a downloaded one.
"""
from common.arms import prune

if __name__ == "__main__":
    prune("taylor")
