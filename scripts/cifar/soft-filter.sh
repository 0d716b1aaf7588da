#!/usr/bin/env bash
# Reproduce the Soft Filter Pruning table of "Rethinking the Value of Network Pruning"
# (baseline / SFP-trained / pruned / [fine-tuned] / Scratch-E / Scratch-B, mean ± std over seeds).
#
#   scripts/cifar/soft-filter.sh [--dataset cifar10] [--archs "sfp_resnet20 sfp_resnet32 sfp_resnet56 sfp_resnet110"]
#                                [--seeds 5] [--epochs 200] [--rates "0.1 0.2 0.3"] [--ft-epochs 0]
#                                [--subset N] [--test-subset N] [--runs runs] [--data-dir data] [-- extra training flags]
#
# Per seed and arch: baseline (--rate 0) -> SFP training at each rate P (the paper's 0.1, 0.2,
# 0.3, and 0.4 for ResNet-56) -> remove the removable zero filters -> [fine-tune, if
# --ft-epochs > 0; SFP itself has no fine-tuning] -> Scratch-E -> Scratch-B (200 x FLOPs ratio).
#
# Runs through the table runner (common/sweep.py): a step already done is skipped, an interrupted
# one resumed, one whose flags changed runs in a new folder; --jobs N runs N steps at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python -m common.sweep soft-filter --tree cifar "$@"
