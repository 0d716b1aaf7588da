#!/usr/bin/env bash
# MetaPruning on CIFAR, in the comparison of "Rethinking the Value of Network Pruning": PruningNet ->
# search at each FLOPs target (and the uniform baseline at the same target) -> fine-tune the generated
# weights / Scratch-E / Scratch-B. See cifar/metapruning/README.md.
#
#   scripts/cifar/metapruning.sh [--dataset cifar10] [--archs mobilenet_v2_cifar] [--seeds 1] [--epochs 160]
#                                [--ft-epochs 40] [--mflops "40"] [--width 1] [--pruningnet-epochs 40]
#                                [--search-flags "..."] [--subset N] [--runs runs] [-- extra training flags]
#
# Runs through the table runner (common/sweep.py): a step already done is skipped, an interrupted
# one resumed, one whose flags changed runs in a new folder; --jobs N runs N steps at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python -m common.sweep metapruning --tree cifar "$@"
