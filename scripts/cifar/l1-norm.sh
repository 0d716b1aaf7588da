#!/usr/bin/env bash
# Reproduce the L1-norm filter pruning table of "Rethinking the Value of Network Pruning"
# (Table 1 of the paper: baseline / fine-tuned / Scratch-E / Scratch-B, mean ± std over seeds).
#
#   scripts/cifar/l1-norm.sh [--dataset cifar10] [--archs "vgg16_mlp resnet56 resnet110"]
#                            [--seeds 5] [--epochs 160] [--ft-epochs 40] [--subset N]
#                            [--cfg JSON] [--runs runs] [--data-dir data] [-- extra training flags]
#
# Per seed and arch: baseline -> prune (every paper variant of the arch) -> fine-tune ->
# Scratch-E -> Scratch-B. Finished steps are skipped, interrupted ones resumed.
#
# Runs through the table runner (common/sweep.py): a step already done is skipped, an interrupted
# one resumed, one whose flags changed runs in a new folder; --jobs N runs N steps at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python -m common.sweep l1-norm --tree cifar "$@"
