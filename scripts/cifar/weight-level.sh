#!/usr/bin/env bash
# Reproduce the weight-level (unstructured) magnitude pruning table of "Rethinking the Value of
# Network Pruning" (Han et al. 2015 as re-implemented there): baseline / pruned / fine-tuned /
# Scratch-E / Scratch-B per model and prune ratio, mean ± std over seeds.
#
#   scripts/cifar/weight-level.sh [--dataset cifar10] [--archs "vgg19 preresnet110 densenet_bc100"]
#                                 [--percents "0.3 0.8"] [--seeds 5] [--epochs 160] [--ft-epochs 40]
#                                 [--subset N] [--test-subset N] [--cfg JSON] [--runs runs]
#                                 [--data-dir data] [-- extra training flags]
#
# Per seed and arch: baseline -> prune at every --percents ratio (one global threshold over all
# conv weights) -> fine-tune -> Scratch-E -> Scratch-B (epochs x dense FLOPs / non-zero FLOPs).
# Finished steps are skipped, interrupted ones resumed.
#
# Runs through the table runner (common/sweep.py): a step already done is skipped, an interrupted
# one resumed, one whose flags changed runs in a new folder; --jobs N runs N steps at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python -m common.sweep weight-level --tree cifar "$@"
