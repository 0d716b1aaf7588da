#!/usr/bin/env bash
# First-order Taylor pruning (Molchanov et al., ICLR 2017) beside the L1-norm rows of "Rethinking the Value of
# Network Pruning": the L1-norm baselines pruned to the same per-layer plans by the Taylor criterion, then
# fine-tuned / Scratch-E / Scratch-B. See cifar/taylor/README.md.
#
#   scripts/cifar/taylor.sh [--dataset ...] [--archs "..."] [--variants "A B"] [--seeds N] [--epochs N] [--ft-epochs N]
#                       [--runs runs] [--jobs N] [-- extra training flags]
#
# Runs through the table runner (common/sweep.py; --help lists every flag and default).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python -m common.sweep taylor --tree cifar "$@"
