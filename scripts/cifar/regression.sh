#!/usr/bin/env bash
# Channel pruning by LASSO regression + least squares (He et al. 2017) on CIFAR, in the comparison
# of "Rethinking the Value of Network Pruning": baseline / pruned / fine-tuned / Scratch-E / Scratch-B,
# mean ± std over seeds.
#
#   scripts/cifar/regression.sh [--dataset cifar10] [--archs "vgg16_mlp resnet56"] [--speedups "2"]
#                               [--seeds 5] [--epochs 160] [--ft-epochs 40] [--images 1000]
#                               [--subset N] [--test-subset N] [--cfg JSON] [--runs runs] [--data-dir data]
#                               [-- extra training flags]
#
# --speedups: target FLOPs reductions, one variant each (the paper's VGG-16 results: 2, 4, 5).
# The baseline is the L1-norm one (same recipe, runs/<dataset>/l1-norm/<arch>/baseline/seed<k>),
# trained here if missing and shared with scripts/cifar/l1-norm.sh. Finished steps are skipped, interrupted ones resumed.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

dataset=cifar10; archs="vgg16_mlp resnet56"; speedups="2"; seeds=5; epochs=160; ft_epochs=40; images=1000
subset=(); test_subset=(); cfg=(); runs=runs; data_dir=data; extra=()
method_flag() {
  case $1 in
    --speedups) speedups=$2 ;;
    --images) images=$2 ;;
    *) return 1 ;;
  esac
}
parse_table_flags "$@"

M=cifar/regression
for seed in $(seq 1 "$seeds"); do
  for arch in $archs; do
    base=$runs/$dataset/l1-norm/$arch/baseline/seed$seed
    run_step "$base" python cifar/l1-norm/main.py --arch "$arch" "${cfg[@]}" --seed "$seed" --epochs "$epochs" "${common[@]}"
    root=$runs/$dataset/regression/$arch
    for s in $speedups; do
      tag=${s}x-seed$seed
      prune_step "$root/pruned/$tag" python $M/prune.py --checkpoint "$base/checkpoint.pt" --speedup "$s" \
        --images "$images" --data-dir "$data_dir" "${test_subset[@]}"
      retrain_arms "$M" "$root" "$tag"
    done
  done
done

report regression
