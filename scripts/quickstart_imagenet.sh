#!/usr/bin/env bash
# The ImageNet pipeline, small: L1-norm pruning of ResNet-34-A (imagenet/l1-norm) on real images --
# Fashion-MNIST written as an ImageNet-style folder of JPEG files (4,000 of them for training), streamed
# from disk through the ImageNet loader (decode, RandomResizedCrop, workers) at 32x32, with ResNet-34 at
# a quarter of its widths and the ImageNet recipes (lr 0.1 per 256 images) -- baseline -> prune ->
# fine-tune -> Scratch-E -> Scratch-B -> table. Offline, minutes on a laptop CPU. Results in
# runs/quickstart-imagenet/.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then      # the header above, not a run
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  echo "Any further flags go to every training step (e.g. --device cpu); the table runner's own flags: "
  echo "  python -m common.sweep l1-norm --help"
  exit 0
fi
cd "$(dirname "$0")/.."
folder=data/fashion-mnist-jpeg
if [[ ! -d $folder ]]; then
  python scripts/make_image_folder.py --dataset fashion-mnist --out "$folder" --train-per-class 400 --val-per-class 100
fi
exec bash scripts/imagenet/l1-norm.sh --dataset fashion-mnist-jpeg --data-dir "$folder" --archs resnet34_narrow \
  --variants A --seeds 1 --epochs 10 --ft-epochs 5 --runs runs/quickstart-imagenet \
  -- --batch-size 64 --no-progress "$@"
