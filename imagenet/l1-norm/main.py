"""Train the unpruned ResNet-34 that L1-norm filter pruning starts from, on ImageNet (Li et al. 2017, Sec. 4.3).

The ImageNet recipe of the original code (PyTorch's examples/imagenet): 90 epochs, batch 256, SGD lr
0.1 x0.1 at epochs 30 and 60 (0.1 per 256 images: another --batch-size scales it), momentum 0.9,
weight decay 1e-4; RandomResizedCrop(224) + flip, tested on the centre 224x224 of a 256 resize. The
original pruned torchvision's pretrained ResNet-34 instead:
`python scripts/download_checkpoints.py resnet34` fetches it, ready for prune.py. On 8 GPUs:
`torchrun --nproc_per_node 8 imagenet/l1-norm/main.py --data-dir DIR` (the batch stays 256 in all).
"""
from common.arms import train

if __name__ == "__main__":
    train("l1-norm", arch="resnet34", dataset="imagenet", epochs=90, lr=0.1, batch_size=256, lr_batch=256,
          weight_decay=1e-4, milestones=(1 / 3, 2 / 3))
