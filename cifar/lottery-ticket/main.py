"""The Lottery Ticket comparison of Liu et al. (2019, Sec. 6): winning ticket vs random re-init.

One command runs one sequence: the dense run (recording theta_0 and theta_k), then per rewind
point and round: prune, train the winning ticket (survivors reset to theta_k), train the random
re-initialisation with the same mask. Run it at --lr 0.1 and --lr 0.01 (the paper's two rates).
  --prune magnitude: iterative global magnitude pruning of the conv weights, --percent of the
                     remaining weights per round (0.2), --rounds N (Frankle & Carbin 2019)
  --prune l1:        one-shot L1-norm filter pruning, --variant A|B (Li et al. 2017), as a mask
Recipe of the original code: 160 epochs, batch 64, lr x0.1 at 50% and 75%, weight decay 1e-4.
Run again to continue an interrupted sequence.
"""
from common.sequences import lottery_sequence

if __name__ == "__main__":
    lottery_sequence("lottery-ticket", arch="vgg16", epochs=160, lr=0.1, batch_size=64, weight_decay=1e-4)
