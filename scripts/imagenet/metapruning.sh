#!/usr/bin/env bash
# The ImageNet table of metapruning in the comparison of "Rethinking the Value of Network Pruning": see
# imagenet/metapruning/README.md for what it runs and the paper's numbers.
#
#   scripts/imagenet/metapruning.sh --data-dir DIR [--archs "..."] [--seeds 1] [--epochs N] [--ft-epochs N]
#                          [--baseline CKPT] [method flags] [--runs runs] [--jobs N] [-- extra training flags]
#
# Runs through the table runner (common/sweep.py; --help lists every flag and default): a step
# already done is skipped, an interrupted one resumed, one whose flags changed runs in a new
# folder; --jobs N runs N steps at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python -m common.sweep metapruning --tree imagenet "$@"
