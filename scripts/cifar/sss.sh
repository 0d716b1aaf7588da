#!/usr/bin/env bash
# Sparse Structure Selection on CIFAR, in the comparison of "Rethinking the Value of Network
# Pruning" (baseline / SSS-trained / blocks removed / fine-tuned / Scratch-E / Scratch-B).
#
#   scripts/cifar/sss.sh [--dataset cifar10] [--archs "resnet56 preresnet164"] [--seeds 5]
#                        [--epochs 160] [--ft-epochs 40] [--gammas "G1 G2"] [--subset N] [--test-subset N]
#                        [--runs runs] [--data-dir data] [-- extra training flags]
#
# Per seed and arch: baseline (--gamma 0) -> SSS training at each gamma (default 0.02, 0.05 and
# 0.1: like the paper's three pruned depths, three strengths; see cifar/sss/README.md) -> remove
# the zero-scale blocks -> fine-tune -> Scratch-E -> Scratch-B.
#
# Runs through the table runner (common/sweep.py): a step already done is skipped, an interrupted
# one resumed, one whose flags changed runs in a new folder; --jobs N runs N steps at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python -m common.sweep sss --tree cifar "$@"
