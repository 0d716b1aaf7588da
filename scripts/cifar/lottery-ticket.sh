#!/usr/bin/env bash
# The Lottery Ticket comparison of "Rethinking the Value of Network Pruning" (Sec. 6): winning
# ticket (survivors reset to theta_0, or theta_k with --rewind-iters) versus random
# re-initialisation with the same mask, at lr 0.1 and 0.01, for
#   (a) iterative global magnitude pruning of the conv weights, 20% of the remaining per round;
#   (b) one-shot L1-norm filter pruning (Li et al.), variant A, as a mask.
#
#   scripts/cifar/lottery-ticket.sh [--dataset cifar10] [--archs "vgg16"] [--l1-archs "vgg16_mlp resnet56 resnet110"]
#                                   [--lrs "0.1 0.01"] [--rounds 5] [--percent 0.2] [--rewind-iters "0"]
#                                   [--seeds 1] [--epochs 160] [--subset N] [--test-subset N] [--cfg JSON]
#                                   [--runs runs] [--data-dir data] [-- extra training flags]
#
# One row per (model, lr, rewind point, round): accuracy of the winning ticket and of the random
# re-init, with the sparsity. Re-running continues an interrupted sequence.
#
# Runs through the table runner (common/sweep.py): a step already done is skipped, an interrupted
# one resumed, one whose flags changed runs in a new folder; --jobs N runs N steps at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python -m common.sweep lottery-ticket --tree cifar "$@"
