#!/usr/bin/env bash
# Reproduce the weight-level (unstructured) magnitude pruning table of "Rethinking the Value of
# Network Pruning" (Han et al. 2015 as re-implemented there): baseline / pruned / fine-tuned /
# Scratch-E / Scratch-B per model and prune ratio, mean ± std over seeds.
#
#   scripts/cifar/weight-level.sh [--dataset cifar10] [--archs "vgg19 preresnet110 densenet_bc100"]
#                                 [--percents "0.3 0.8"] [--seeds 5] [--epochs 160] [--ft-epochs 40]
#                                 [--subset N] [--test-subset N] [--cfg JSON] [--runs runs]
#                                 [--data-dir data] [-- extra training flags]
#
# Per seed and arch: baseline -> prune at every --percents ratio (one global threshold over all
# conv weights) -> fine-tune -> Scratch-E -> Scratch-B (epochs x dense FLOPs / non-zero FLOPs).
# Finished steps are skipped, interrupted ones resumed.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

dataset=cifar10; archs="vgg19 preresnet110 densenet_bc100"; percents="0.3 0.8"; seeds=5; epochs=160
ft_epochs=40; subset=(); test_subset=(); cfg=(); runs=runs; data_dir=data; extra=()
method_flag() {
  case $1 in
    --percents) percents=$2 ;;
    *) return 1 ;;
  esac
}
parse_table_flags "$@"

M=cifar/weight-level
for seed in $(seq 1 "$seeds"); do
  for arch in $archs; do
    root=$runs/$dataset/weight-level/$arch
    base=$root/baseline/seed$seed
    run_step "$base" python $M/main.py --arch "$arch" "${cfg[@]}" --seed "$seed" --epochs "$epochs" "${common[@]}"
    for p in $percents; do
      tag=p$(python -c "print(f'{float(\"$p\"):g}')")-seed$seed
      prune_step "$root/pruned/$tag" python $M/prune.py --checkpoint "$base/checkpoint.pt" --percent "$p" \
        --data-dir "$data_dir" "${test_subset[@]}"
      retrain_arms "$M" "$root" "$tag"
    done
  done
done

report weight-level --columns sparsity
