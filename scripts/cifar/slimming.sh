#!/usr/bin/env bash
# Reproduce the Network Slimming table of "Rethinking the Value of Network Pruning"
# (baseline / sparsity-trained / pruned / fine-tuned / Scratch-E / Scratch-B, mean ± std over seeds).
#
#   scripts/cifar/slimming.sh [--dataset cifar10] [--archs "vgg19 preresnet164 densenet40"]
#                             [--seeds 5] [--epochs 160] [--ft-epochs 40] [--percents "0.4 0.6"]
#                             [--sparsity LAMBDA] [--subset N] [--test-subset N] [--cfg JSON] [--runs runs]
#                             [--data-dir data] [-- extra training flags]
#
# Per seed and arch: baseline (no penalty) -> sparsity training -> prune at each percent (the
# paper's: VGG-19 0.7 on CIFAR-10 and 0.5 on CIFAR-100, PreResNet-164 and DenseNet-40 0.4 and 0.6)
# -> fine-tune -> Scratch-E -> Scratch-B. Finished steps are skipped, interrupted ones resumed.
#
# Runs through the table runner (common/sweep.py): a step already done is skipped, an interrupted
# one resumed, one whose flags changed runs in a new folder; --jobs N runs N steps at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python -m common.sweep slimming --tree cifar "$@"
