#!/usr/bin/env bash
# The project's own results (results/): every method's table on Fashion-MNIST, 3 seeds, on this machine -- and
# the ImageNet recipes of L1-norm, ThiNet and MetaPruning on Fashion-MNIST written as JPEGs -- with training
# compute, CPU latency (--latency) and plots. Scale: 6,000 training and 2,000 test images (28x28, padded crops; the
# ResNet-20 tables 3,000 training images), baselines and Scratch-E 6 epochs, fine-tuning 3; VGGs at a quarter of
# their widths, ResNet-20s whole, MobileNets at x0.25, the ImageNet ResNets narrow, ImageNet recipes on 32x32 JPEGs.
# Not CIFAR or ImageNet numbers: they show the pipeline and the comparison at a small scale.
#
#   bash scripts/results.sh [--dry-run] [METHOD ...]       # default: all of them; runs in runs/results/
#
# A method whose results/<tree>/<method>/ is complete is skipped, and the runner skips done steps, so the same
# command continues an interrupted regeneration. Each folder gets command.txt: the command, its wall time, the
# machine. On a 2-core CPU the whole set takes about 4 hours (251 minutes; each folder says how long its table took).
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=""
if [[ "${1:-}" == "--dry-run" ]]; then dry_run="--dry-run"; shift; fi
only=("$@")
RUNS=runs/results
Q16='[16, 16, "M", 32, 32, "M", 64, 64, 64, "M", 128, 128, 128, "M", 128, 128, 128]'
Q19='[16, 16, "M", 32, 32, "M", 64, 64, 64, 64, "M", 128, 128, 128, 128, "M", 128, 128, 128, 128]'
SCALE=(--seeds 3 --subset 6000 --test-subset 2000 --epochs 6 --ft-epochs 3 --runs "$RUNS" --latency)
CIFAR=(--dataset fashion-mnist "${SCALE[@]}")
# a ResNet-20 trains about 5x slower per image than a quarter-width VGG on a CPU: its tables see half the images
RESNET20=(--dataset fashion-mnist --seeds 3 --subset 3000 --test-subset 2000 --epochs 6 --ft-epochs 3 --runs "$RUNS"
          --latency)
JPEG_DIR=data/fashion-mnist-jpeg
IMAGENET=(--dataset fashion-mnist-jpeg --data-dir "$JPEG_DIR" "${SCALE[@]}")
SEARCH="--population 16 --parents 4 --mutations 6 --crossovers 6 --iterations 8 --recal-batches 8"

table() {            # table TREE METHOD FLAGS... : run one table, keep what it wrote in results/TREE/METHOD
    local tree=$1 method=$2; shift 2
    if (( ${#only[@]} )) && [[ ! " ${only[*]} " == *" $method "* ]]; then return 0; fi
    local out="results/$tree/$method" dataset=fashion-mnist
    [[ $tree == imagenet ]] && dataset=fashion-mnist-jpeg
    if [[ -z "$dry_run" && -f "$out/command.txt" ]]; then echo "== $tree/$method: done ($out)"; return 0; fi
    echo "== $tree/$method"
    local start=$SECONDS
    bash "scripts/$tree/$method.sh" "$@" $dry_run -- --no-progress
    [[ -n "$dry_run" ]] && return 0
    mkdir -p "$out"
    local root="$RUNS/$dataset/$method"
    cp "$root"/table.md "$root"/table.csv "$root"/plot.png "$root"/compute.png "$root"/latency.md "$out"/ 2>/dev/null || true
    {
        printf 'bash scripts/%s/%s.sh' "$tree" "$method"; printf ' %q' "$@"; printf ' -- --no-progress\n'
        echo "wall time: $(( (SECONDS - start) / 60 )) min on $(nproc) CPU cores, $(python -c 'import torch; print("torch", torch.__version__)'), $(date -u +%Y-%m-%d)"
    } > "$out/command.txt"
}

if [[ ! -d $JPEG_DIR ]]; then
    python scripts/make_image_folder.py --dataset fashion-mnist --out "$JPEG_DIR" --train-per-class 600 --val-per-class 200
fi

table cifar l1-norm "${CIFAR[@]}" --archs vgg16_mlp --cfg "$Q16"
table cifar taylor "${CIFAR[@]}" --archs vgg16_mlp --cfg "$Q16"
table cifar thinet "${CIFAR[@]}" --archs vgg16_mlp --cfg "$Q16" --images 500
table cifar regression "${CIFAR[@]}" --archs vgg16_mlp --cfg "$Q16" --images 500
table cifar slimming "${CIFAR[@]}" --archs vgg19 --cfg "$Q19" --percents "0.4 0.6"
table cifar weight-level "${CIFAR[@]}" --archs vgg19 --cfg "$Q19" --percents "0.3 0.8"
table cifar lottery-ticket "${CIFAR[@]}" --archs vgg16 --cfg "$Q16" --l1-archs "" --rounds 3
table cifar imp "${CIFAR[@]}" --archs vgg16 --cfg "$Q16" --epochs 8 --phases 2 --phase-epochs 2 --gmp-every 2
table cifar metapruning "${CIFAR[@]}" --width 0.25 --pruningnet-epochs 6 --mflops 4 --search-flags "$SEARCH"
table imagenet l1-norm "${IMAGENET[@]}" --archs resnet34_narrow --variants A
table imagenet thinet "${IMAGENET[@]}" --archs resnet50_narrow --images 256 --no-published
table imagenet metapruning "${IMAGENET[@]}" --archs mobilenet_v1 --width 0.25 --pruningnet-epochs 6 --mflops 0.5 \
    --search-flags "$SEARCH"
# the ResNet-20 tables last
table cifar soft-filter "${RESNET20[@]}" --archs sfp_resnet20 --rates "0.3"
table cifar sss "${RESNET20[@]}" --archs resnet20 --gammas "0.1"

if [[ -z "$dry_run" ]]; then       # the index, written whole or not at all
    python scripts/results_summary.py results > results/README.md.tmp && mv results/README.md.tmp results/README.md
fi
