#!/usr/bin/env bash
# Sparse Structure Selection on CIFAR, in the comparison of "Rethinking the Value of Network
# Pruning" (baseline / SSS-trained / blocks removed / fine-tuned / Scratch-E / Scratch-B).
#
#   scripts/cifar/sss.sh [--dataset cifar10] [--archs "resnet56 preresnet164"] [--seeds 5]
#                        [--epochs 160] [--ft-epochs 40] [--gammas "G1 G2"] [--subset N] [--test-subset N]
#                        [--runs runs] [--data-dir data] [-- extra training flags]
#
# Per seed and arch: baseline (--gamma 0) -> SSS training at each gamma (default 0.02, 0.05 and
# 0.1: like the paper's three pruned depths, three strengths; see cifar/sss/README.md) -> remove
# the zero-scale blocks -> fine-tune -> Scratch-E -> Scratch-B.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

dataset=cifar10; archs="resnet56 preresnet164"; seeds=5; epochs=160; ft_epochs=40
gammas=""; subset=(); test_subset=(); runs=runs; data_dir=data; extra=()
method_flag() {
  case $1 in
    --gammas) gammas=$2 ;;
    *) return 1 ;;
  esac
}
parse_table_flags "$@"

M=cifar/sss
gammas_of() {
  if [[ -n $gammas ]]; then echo "$gammas"; else echo "0.02 0.05 0.1"; fi
}

for seed in $(seq 1 "$seeds"); do
  for arch in $archs; do
    root=$runs/$dataset/sss/$arch
    run_step "$root/baseline/seed$seed" python $M/main.py --arch "$arch" --gamma 0 --seed "$seed" \
      --epochs "$epochs" "${common[@]}"
    for g in $(gammas_of "$arch"); do
      tag=g$g-seed$seed
      run_step "$root/sss/$tag" python $M/main.py --arch "$arch" --gamma "$g" --seed "$seed" --epochs "$epochs" "${common[@]}"
      prune_step "$root/pruned/$tag" python $M/prune.py --checkpoint "$root/sss/$tag/checkpoint.pt" --data-dir "$data_dir" "${test_subset[@]}"
      retrain_arms "$M" "$root" "$tag"
    done
  done
done

report sss
