#!/usr/bin/env bash
# Reproduce the Network Slimming table of "Rethinking the Value of Network Pruning"
# (baseline / sparsity-trained / pruned / fine-tuned / Scratch-E / Scratch-B, mean ± std over seeds).
#
#   scripts/cifar/slimming.sh [--dataset cifar10] [--archs "vgg19 preresnet164 densenet40"]
#                             [--seeds 5] [--epochs 160] [--ft-epochs 40] [--percents "0.4 0.6"]
#                             [--sparsity LAMBDA] [--subset N] [--test-subset N] [--cfg JSON] [--runs runs]
#                             [--data-dir data] [-- extra training flags]
#
# Per seed and arch: baseline (no penalty) -> sparsity training -> prune at each percent (the
# paper's: VGG-19 0.7 on CIFAR-10 and 0.5 on CIFAR-100, PreResNet-164 and DenseNet-40 0.4 and 0.6)
# -> fine-tune -> Scratch-E -> Scratch-B. Finished steps are skipped, interrupted ones resumed.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

dataset=cifar10; archs="vgg19 preresnet164 densenet40"; seeds=5; epochs=160; ft_epochs=40
percents=""; sparsity=(); subset=(); test_subset=(); cfg=(); runs=runs; data_dir=data; extra=()
method_flag() {
  case $1 in
    --percents) percents=$2 ;;
    --sparsity) sparsity=(--sparsity "$2") ;;
    *) return 1 ;;
  esac
}
parse_table_flags "$@"

M=cifar/slimming
percents_of() {
  if [[ -n $percents ]]; then echo "$percents"; return; fi
  case $1/$dataset in
    vgg19/cifar100) echo 0.5 ;;
    vgg*) echo 0.7 ;;
    *) echo "0.4 0.6" ;;
  esac
}

for seed in $(seq 1 "$seeds"); do
  for arch in $archs; do
    root=$runs/$dataset/slimming/$arch
    run_step "$root/baseline/seed$seed" python $M/main.py --arch "$arch" "${cfg[@]}" --sparsity 0 \
      --seed "$seed" --epochs "$epochs" "${common[@]}"
    sparse=$root/sparsity/seed$seed
    run_step "$sparse" python $M/main.py --arch "$arch" "${cfg[@]}" "${sparsity[@]}" --seed "$seed" \
      --epochs "$epochs" "${common[@]}"
    for p in $(percents_of "$arch"); do
      tag=p$p-seed$seed
      prune_step "$root/pruned/$tag" python $M/prune.py --checkpoint "$sparse/checkpoint.pt" --percent "$p" \
        --data-dir "$data_dir" "${test_subset[@]}"
      retrain_arms "$M" "$root" "$tag"
    done
  done
done

report slimming
