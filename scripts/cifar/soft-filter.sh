#!/usr/bin/env bash
# Reproduce the Soft Filter Pruning table of "Rethinking the Value of Network Pruning"
# (baseline / SFP-trained / pruned / [fine-tuned] / Scratch-E / Scratch-B, mean ± std over seeds).
#
#   scripts/cifar/soft-filter.sh [--dataset cifar10] [--archs "resnet20 resnet32 resnet56 resnet110"]
#                                [--seeds 5] [--epochs 200] [--rates "0.1 0.2 0.3"] [--ft-epochs 0]
#                                [--subset N] [--test-subset N] [--runs runs] [--data-dir data] [-- extra training flags]
#
# Per seed and arch: baseline (--rate 0) -> SFP training at each rate P (the paper's 0.1, 0.2,
# 0.3, and 0.4 for ResNet-56) -> remove the removable zero filters -> [fine-tune, if
# --ft-epochs > 0; SFP itself has no fine-tuning] -> Scratch-E -> Scratch-B (200 x FLOPs ratio).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

dataset=cifar10; archs="resnet20 resnet32 resnet56 resnet110"; seeds=5; epochs=200; ft_epochs=0
rates=""; subset=(); test_subset=(); runs=runs; data_dir=data; extra=()
method_flag() {
  case $1 in
    --rates) rates=$2 ;;
    *) return 1 ;;
  esac
}
parse_table_flags "$@"

M=cifar/soft-filter
rates_of() {
  if [[ -n $rates ]]; then echo "$rates"; return; fi
  case $1 in
    resnet56) echo "0.1 0.2 0.3 0.4" ;;
    *) echo "0.1 0.2 0.3" ;;
  esac
}

for seed in $(seq 1 "$seeds"); do
  for arch in $archs; do
    root=$runs/$dataset/soft-filter/$arch
    run_step "$root/baseline/seed$seed" python $M/main.py --arch "$arch" --rate 0 --seed "$seed" \
      --epochs "$epochs" "${common[@]}"
    for r in $(rates_of "$arch"); do
      tag=r$r-seed$seed
      run_step "$root/sfp/$tag" python $M/main.py --arch "$arch" --rate "$r" --seed "$seed" --epochs "$epochs" "${common[@]}"
      prune_step "$root/pruned/$tag" python $M/prune.py --checkpoint "$root/sfp/$tag/checkpoint.pt" --data-dir "$data_dir" "${test_subset[@]}"
      retrain_arms "$M" "$root" "$tag"
    done
  done
done

report soft-filter
