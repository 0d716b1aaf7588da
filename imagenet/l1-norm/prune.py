"""Prune a trained ResNet-34 by filter L1 norm (Li et al. 2017, Sec. 3.1 and Table 3): ResNet-34-A
(the first conv of every block at 30/30/30/0% per stage) or -B (50/60/40/0%), the first block of
stages 1-3, the last of stages 2-3 and all of stage 4 kept whole, as the original's prune.py
(ResNet-34-A: 20.15M parameters, 3.10 GFLOPs; -B: 19.47M, 2.78 GFLOPs). --ratio R prunes every
block's first conv by R instead. Takes this folder's baseline or a downloaded one.
"""
from common.arms import prune

if __name__ == "__main__":
    prune("l1-norm")
