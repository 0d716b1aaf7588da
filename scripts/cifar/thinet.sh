#!/usr/bin/env bash
# ThiNet (Luo et al. 2017) on CIFAR, in the comparison of "Rethinking the Value of Network Pruning":
# baseline / pruned / fine-tuned / Scratch-E / Scratch-B, mean ± std over seeds.
#
#   scripts/cifar/thinet.sh [--dataset cifar10] [--archs "vgg16_mlp resnet56"] [--rs "0.5"]
#                           [--seeds 5] [--epochs 160] [--ft-epochs 40] [--images 1000]
#                           [--finetune-iters 0] [--subset N] [--test-subset N] [--cfg JSON] [--runs runs]
#                           [--data-dir data] [-- extra training flags]
#
# --rs: compression rates r (fraction of channels kept), one variant each (paper: 0.5 = ThiNet-Conv
# on VGG-16 and ThiNet-50 on ResNets; 0.7 / 0.3 = ThiNet-70 / -30). The baseline is the L1-norm one
# (same recipe, runs/<dataset>/l1-norm/<arch>/baseline/seed<k>), trained here if missing and shared
# with scripts/cifar/l1-norm.sh. Finished steps are skipped, interrupted ones resumed.
#
# Runs through the table runner (common/sweep.py): a step already done is skipped, an interrupted
# one resumed, one whose flags changed runs in a new folder; --jobs N runs N steps at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python -m common.sweep thinet --tree cifar "$@"
