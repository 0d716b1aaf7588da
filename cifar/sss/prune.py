"""Sparse Structure Selection, after training: remove the blocks whose scale lambda is exactly 0.

The other scales are folded into their branch's last layer, so the shallower network
computes exactly what the trained one computes (a downsampling block keeps its shortcut).
"""
from common.arms import prune

if __name__ == "__main__":
    prune("sss")
