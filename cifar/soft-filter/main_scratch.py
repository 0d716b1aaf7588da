"""Train the pruned SFP architecture from scratch, its remaining zero filters held at zero.

--budget E: 200 epochs, the SFP recipe. --budget B: int(200 x FLOPs(base) / FLOPs(pruned))
epochs (the original multiplied 400), milestones at the same fractions (30/60/80%).
"""
from common.arms import scratch

if __name__ == "__main__":
    scratch("soft-filter", epochs=200, lr=0.1, batch_size=128, weight_decay=5e-4, milestones=(0.3, 0.6, 0.8),
            lr_decay=0.2, warmup_epochs=1, nesterov=True)
