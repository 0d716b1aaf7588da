#!/usr/bin/env bash
# The ImageNet rows of the L1-norm filter pruning table of "Rethinking the Value of Network Pruning"
# (Table 1: ResNet-34-A and -B; baseline / fine-tuned / Scratch-E / Scratch-B).
#
#   scripts/imagenet/l1-norm.sh --data-dir DIR [--archs resnet34] [--seeds 1] [--epochs 90] [--ft-epochs 20]
#                               [--baseline CKPT] [--dataset imagenet] [--runs runs] [--jobs N]
#                               [-- extra training flags, e.g. --amp --channels-last --image-size 128]
#
# Per seed: baseline (or --baseline CKPT: e.g. torchvision's ResNet-34, fetched with
# scripts/download_checkpoints.py resnet34, as the original did) -> prune A and B -> fine-tune
# 20 epochs -> Scratch-E (90) -> Scratch-B (90 x min(FLOPs ratio, 2)). Runs through the table runner
# (common/sweep.py): a step already done is skipped, an interrupted one resumed, one whose flags
# changed runs in a new folder; --jobs N runs N steps at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python -m common.sweep l1-norm --tree imagenet "$@"
