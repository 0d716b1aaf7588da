"""Train the pruned SFP architecture from scratch, its remaining zero filters held at zero.

--budget E: 200 epochs, the SFP recipe. --budget B: int(200 x FLOPs(base) / FLOPs(pruned))
epochs (the original multiplied 400), milestones at the same fractions (30/60/80%).
"""
from common.arms import scratch_main
from common.pruning.sfp import RECIPE

if __name__ == "__main__":
    scratch_main("soft-filter", **RECIPE)
