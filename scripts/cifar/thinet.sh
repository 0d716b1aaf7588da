#!/usr/bin/env bash
# ThiNet (Luo et al. 2017) on CIFAR, in the comparison of "Rethinking the Value of Network Pruning":
# baseline / pruned / fine-tuned / Scratch-E / Scratch-B, mean ± std over seeds.
#
#   scripts/cifar/thinet.sh [--dataset cifar10] [--archs "vgg16_mlp resnet56"] [--rs "0.5"]
#                           [--seeds 5] [--epochs 160] [--ft-epochs 40] [--images 1000]
#                           [--finetune-iters 0] [--subset N] [--test-subset N] [--cfg JSON] [--runs runs]
#                           [--data-dir data] [-- extra training flags]
#
# --rs: compression rates r (fraction of channels kept), one variant each (paper: 0.5 = ThiNet-Conv
# on VGG-16 and ThiNet-50 on ResNets; 0.7 / 0.3 = ThiNet-70 / -30). The baseline is the L1-norm one
# (same recipe, runs/<dataset>/l1-norm/<arch>/baseline/seed<k>), trained here if missing and shared
# with scripts/cifar/l1-norm.sh. Finished steps are skipped, interrupted ones resumed.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

dataset=cifar10; archs="vgg16_mlp resnet56"; rs="0.5"; seeds=5; epochs=160; ft_epochs=40; images=1000
ft_iters=0; subset=(); test_subset=(); cfg=(); runs=runs; data_dir=data; extra=()
method_flag() {
  case $1 in
    --rs) rs=$2 ;;
    --images) images=$2 ;;
    --finetune-iters) ft_iters=$2 ;;
    *) return 1 ;;
  esac
}
parse_table_flags "$@"

M=cifar/thinet
for seed in $(seq 1 "$seeds"); do
  for arch in $archs; do
    base=$runs/$dataset/l1-norm/$arch/baseline/seed$seed
    run_step "$base" python cifar/l1-norm/main.py --arch "$arch" "${cfg[@]}" --seed "$seed" --epochs "$epochs" "${common[@]}"
    root=$runs/$dataset/thinet/$arch
    for r in $rs; do
      tag=r$r-seed$seed
      prune_step "$root/pruned/$tag" python $M/prune.py --checkpoint "$base/checkpoint.pt" --r "$r" \
        --images "$images" --finetune-iters "$ft_iters" --data-dir "$data_dir" "${test_subset[@]}"
      retrain_arms "$M" "$root" "$tag"
    done
  done
done

report thinet
