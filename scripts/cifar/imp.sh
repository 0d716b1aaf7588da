#!/usr/bin/env bash
# Iterative Magnitude Pruning with retraining schedules (Zimmer, Spiegel, Pokutta, ICLR 2023):
# FT, LRW, SLR, CLR, LLR and ALLR for J phases to sparsity S, One Shot (J = 1), BIMP and GMP.
#
#   scripts/cifar/imp.sh [--dataset cifar10] [--archs "resnet56"] [--sparsity 0.9] [--phases 3]
#                        [--phase-epochs 10] [--schedules "FT LRW SLR CLR LLR ALLR"] [--seeds 1]
#                        [--epochs 160] [--gmp-every 4] [--subset N] [--test-subset N] [--cfg JSON]
#                        [--runs runs] [--data-dir data] [-- extra training flags]
#
# Per seed and arch:
#   dense run (--epochs T, lr 0.1 x0.1 at 50%/75%) -> IMP with every schedule, J phases of
#   --phase-epochs each; One Shot: 1 phase of J x --phase-epochs epochs (same retraining cost);
#   BIMP: a dense run of T0 = T - J x phase-epochs epochs with lr decaying linearly to 0, then
#   ALLR with the budget B = T - T0 (total cost T); GMP: T epochs from scratch, pruning every
#   --gmp-every epochs.
# Table: one row per (schedule setting, phase): accuracy after the phase, sparsity, total epochs.
#
# Runs through the table runner (common/sweep.py): a step already done is skipped, an interrupted
# one resumed, one whose flags changed runs in a new folder; --jobs N runs N steps at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python -m common.sweep imp --tree cifar "$@"
