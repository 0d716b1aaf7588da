#!/usr/bin/env bash
# Iterative Magnitude Pruning with retraining schedules (Zimmer, Spiegel, Pokutta, ICLR 2023):
# FT, LRW, SLR, CLR, LLR and ALLR for J phases to sparsity S, One Shot (J = 1), BIMP and GMP.
#
#   scripts/cifar/imp.sh [--dataset cifar10] [--archs "resnet56"] [--sparsity 0.9] [--phases 3]
#                        [--phase-epochs 10] [--schedules "FT LRW SLR CLR LLR ALLR"] [--seeds 1]
#                        [--epochs 160] [--gmp-every 4] [--subset N] [--test-subset N] [--cfg JSON]
#                        [--runs runs] [--data-dir data] [-- extra training flags]
#
# Per seed and arch:
#   dense run (--epochs T, lr 0.1 x0.1 at 50%/75%) -> IMP with every schedule, J phases of
#   --phase-epochs each; One Shot: 1 phase of J x --phase-epochs epochs (same retraining cost);
#   BIMP: a dense run of T0 = T - J x phase-epochs epochs with lr decaying linearly to 0, then
#   ALLR with the budget B = T - T0 (total cost T); GMP: T epochs from scratch, pruning every
#   --gmp-every epochs.
# Table: one row per (schedule setting, phase): accuracy after the phase, sparsity, total epochs.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

dataset=cifar10; archs="resnet56"; S=0.9; J=3; R=10; schedules="FT LRW SLR CLR LLR ALLR"; seeds=1
epochs=160; gmp_every=4; subset=(); test_subset=(); cfg=(); runs=runs; data_dir=data; extra=()
method_flag() {
  case $1 in
    --sparsity) S=$2 ;;
    --phases) J=$2 ;;
    --phase-epochs) R=$2 ;;
    --schedules) schedules=$2 ;;
    --gmp-every) gmp_every=$2 ;;
    *) return 1 ;;
  esac
}
parse_table_flags "$@"

budget=$((J * R)); t0=$((epochs - budget))
if (( t0 < 1 )); then echo "imp.sh: --phases x --phase-epochs must be below --epochs (BIMP's dense run)" >&2; exit 2; fi
data=(--data-dir "$data_dir" "${subset[@]}" "${test_subset[@]}")
train=("${data[@]}" "${extra[@]}")
for seed in $(seq 1 "$seeds"); do
  for arch in $archs; do
    root=$runs/$dataset/imp/$arch
    dense=$root/baseline/seed$seed
    run_step "$dense" python cifar/imp/main.py --dataset "$dataset" --arch "$arch" "${cfg[@]}" --seed "$seed" \
      --epochs "$epochs" "${train[@]}"
    for sched in $schedules; do
      python cifar/imp/main_imp.py --checkpoint "$dense/checkpoint.pt" --runs "$runs" --sparsity "$S" \
        --phases "$J" --phase-epochs "$R" --retrain "$sched" "${train[@]}"
      python cifar/imp/main_imp.py --checkpoint "$dense/checkpoint.pt" --runs "$runs" --sparsity "$S" \
        --phases 1 --phase-epochs "$budget" --retrain "$sched" "${train[@]}"
    done
    short=$root/baseline/linear-T$t0-seed$seed
    run_step "$short" python cifar/imp/main.py --dataset "$dataset" --arch "$arch" "${cfg[@]}" --seed "$seed" \
      --epochs "$t0" --schedule linear "${train[@]}"
    python cifar/imp/main_imp.py --checkpoint "$short/checkpoint.pt" --runs "$runs" --sparsity "$S" \
      --phases "$J" --budget "$budget" --retrain BIMP "${train[@]}"
    run_step "$root/GMP/S$S-T$epochs-GMP-seed$seed" python cifar/imp/main_gmp.py --dataset "$dataset" --arch "$arch" \
      "${cfg[@]}" --seed "$seed" --epochs "$epochs" --sparsity "$S" --prune-every "$gmp_every" "${train[@]}"
  done
done

report imp --metric final --columns sparsity,epochs_total
