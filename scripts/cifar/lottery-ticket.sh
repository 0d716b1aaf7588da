#!/usr/bin/env bash
# The Lottery Ticket comparison of "Rethinking the Value of Network Pruning" (Sec. 6): winning
# ticket (survivors reset to theta_0, or theta_k with --rewind-iters) versus random
# re-initialisation with the same mask, at lr 0.1 and 0.01, for
#   (a) iterative global magnitude pruning of the conv weights, 20% of the remaining per round;
#   (b) one-shot L1-norm filter pruning (Li et al.), variant A, as a mask.
#
#   scripts/cifar/lottery-ticket.sh [--dataset cifar10] [--archs "vgg16"] [--l1-archs "vgg16_mlp resnet56 resnet110"]
#                                   [--lrs "0.1 0.01"] [--rounds 5] [--percent 0.2] [--rewind-iters "0"]
#                                   [--seeds 1] [--epochs 160] [--subset N] [--test-subset N] [--cfg JSON]
#                                   [--runs runs] [--data-dir data] [-- extra training flags]
#
# One row per (model, lr, rewind point, round): accuracy of the winning ticket and of the random
# re-init, with the sparsity. Re-running continues an interrupted sequence.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

dataset=cifar10; archs="vgg16"; l1_archs="vgg16_mlp resnet56 resnet110"; lrs="0.1 0.01"; rounds=5
percent=0.2; rewind="0"; seeds=1; epochs=160; subset=(); test_subset=(); cfg=(); runs=runs; data_dir=data
extra=()
method_flag() {
  case $1 in
    --l1-archs) l1_archs=$2 ;;
    --lrs) lrs=$2 ;;
    --rounds) rounds=$2 ;;
    --percent) percent=$2 ;;
    --rewind-iters) rewind=$2 ;;
    *) return 1 ;;
  esac
}
parse_table_flags "$@"

M=cifar/lottery-ticket/main.py
common=(--dataset "$dataset" --data-dir "$data_dir" --epochs "$epochs" --runs "$runs" "${subset[@]}"
        "${test_subset[@]}" "${extra[@]}")
for seed in $(seq 1 "$seeds"); do
  for lr in $lrs; do
    for arch in $archs; do
      python $M --arch "$arch" "${cfg[@]}" --lr "$lr" --seed "$seed" --prune magnitude --rounds "$rounds" \
        --percent "$percent" --rewind-iters $rewind "${common[@]}"
    done
    for arch in $l1_archs; do
      python $M --arch "$arch" --lr "$lr" --seed "$seed" --prune l1 --variant A --rewind-iters $rewind "${common[@]}"
    done
  done
done

report lottery-ticket --columns sparsity
