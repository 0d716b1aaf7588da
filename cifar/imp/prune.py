"""One Shot pruning of a trained IMP model (Zimmer et al. 2023, the pruning step of a phase with J = 1):
one global magnitude threshold over the conv and linear weights leaves --sparsity S of them at zero.
The result is the full network with its keep-mask; main_finetune.py and main_scratch.py then ask the
paper's question of it (the retraining schedules of IMP itself run in main_imp.py)."""
from common.arms import prune

if __name__ == "__main__":
    prune("imp")
