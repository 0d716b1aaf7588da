"""Iterative Magnitude Pruning with a retraining schedule (Zimmer, Spiegel, Pokutta, ICLR 2023).

From a dense checkpoint of main.py: --phases J prune-retrain phases to --sparsity S, each
removing s = 1 - (1 - S)^(1/J) of the remaining conv and linear weights by one global magnitude
threshold, then retraining with --retrain FT | LRW | SLR | CLR | LLR | ALLR (per iteration,
built from the dense run's learning rates) for --phase-epochs T_j each, or a total --budget B
split over the phases. --phases 1 is One Shot. --retrain BIMP = ALLR with --budget after a
dense run of T0 epochs with --schedule linear. Run again to continue an interrupted sequence.
"""
from common.sequences import imp_sequence

if __name__ == "__main__":
    imp_sequence("imp", batch_size=64, weight_decay=1e-4, momentum=0.9)
