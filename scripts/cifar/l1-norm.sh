#!/usr/bin/env bash
# Reproduce the L1-norm filter pruning table of "Rethinking the Value of Network Pruning"
# (Table 1 of the paper: baseline / fine-tuned / Scratch-E / Scratch-B, mean ± std over seeds).
#
#   scripts/cifar/l1-norm.sh [--dataset cifar10] [--archs "vgg16_mlp resnet56 resnet110"]
#                            [--seeds 5] [--epochs 160] [--ft-epochs 40] [--subset N]
#                            [--cfg JSON] [--runs runs] [--data-dir data] [-- extra training flags]
#
# Per seed and arch: baseline -> prune (every paper variant of the arch) -> fine-tune ->
# Scratch-E -> Scratch-B. Finished steps are skipped, interrupted ones resumed.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

dataset=cifar10; archs="vgg16_mlp resnet56 resnet110"; seeds=5; epochs=160; ft_epochs=40
subset=(); test_subset=(); cfg=(); runs=runs; data_dir=data; extra=()
parse_table_flags "$@"

M=cifar/l1-norm
variants_of() {
  case $1 in
    vgg16|vgg16_mlp) echo A ;;
    resnet56|resnet110) echo "A B" ;;
    *) echo "l1-norm.sh: no paper variant for $1" >&2; exit 2 ;;
  esac
}

for seed in $(seq 1 "$seeds"); do
  for arch in $archs; do
    root=$runs/$dataset/l1-norm/$arch
    base=$root/baseline/seed$seed
    run_step "$base" python $M/main.py --arch "$arch" "${cfg[@]}" --seed "$seed" --epochs "$epochs" "${common[@]}"
    for v in $(variants_of "$arch"); do
      tag=$v-seed$seed
      prune_step "$root/pruned/$tag" python $M/prune.py --checkpoint "$base/checkpoint.pt" --variant "$v" \
        --data-dir "$data_dir" "${test_subset[@]}"
      retrain_arms "$M" "$root" "$tag"
    done
  done
done

report l1-norm
