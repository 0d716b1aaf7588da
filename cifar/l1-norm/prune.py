"""Prune a trained model by filter L1 norm (Li et al. 2017, Sec. 3.1 and Table 1/2).

--variant A|B picks the paper's configuration (VGG-16-A; ResNet-56-A/B; ResNet-110-A/B);
--ratio R prunes every prunable layer by R instead (any arch).
"""
from common.arms import prune

if __name__ == "__main__":
    prune("l1-norm")
