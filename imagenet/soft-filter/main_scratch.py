"""Train the pruned SFP ResNet-50 from scratch on ImageNet, its remaining zero filters held at zero:
--budget E: 100 epochs, x0.1 at 30, 60, 90; --budget B: 100 x min(FLOPs ratio, 2) epochs, the decays at
the same fractions.
"""
from common.arms import scratch

if __name__ == "__main__":
    scratch("soft-filter", epochs=100, lr=0.1, batch_size=256, lr_batch=256, weight_decay=1e-4,
            milestones=(0.3, 0.6, 0.9), budget_cap=2.0)
