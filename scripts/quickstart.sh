#!/usr/bin/env bash
# The whole paper pipeline, small: L1-norm pruning of a quarter-width VGG-16 on 8,000
# Fashion-MNIST images -- baseline -> prune (VGG-16-A) -> fine-tune -> Scratch-E -> Scratch-B
# -> table. Runs offline (Fashion-MNIST from /usr/share/datasets/fashion-mnist, or downloaded
# by torchvision) in a few minutes on a laptop CPU. Results in runs/quickstart/.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then      # the header above, not a run
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  echo "Any further flags go to every training step (e.g. --device cpu); the table runner's own flags: "
  echo "  python -m common.sweep l1-norm --help"
  exit 0
fi
cd "$(dirname "$0")/.."
exec bash scripts/cifar/l1-norm.sh --dataset fashion-mnist --archs vgg16_mlp --seeds 1 \
  --epochs 6 --ft-epochs 3 --subset 8000 --runs runs/quickstart \
  --cfg '[16, 16, "M", 32, 32, "M", 64, 64, 64, "M", 128, 128, 128, "M", 128, 128, 128]' \
  -- --no-progress "$@"
