"""Train the unpruned ResNet-34 that first-order Taylor pruning starts from, on ImageNet: the L1-norm recipe
(PyTorch's examples/imagenet): 90 epochs, batch 256, SGD lr 0.1 x0.1 at epochs 30 and 60 (0.1 per 256 images),
momentum 0.9, weight decay 1e-4. `python scripts/download_checkpoints.py resnet34` gives torchvision's instead.
"""
from common.arms import train

if __name__ == "__main__":
    train("taylor", arch="resnet34", dataset="imagenet", epochs=90, lr=0.1, batch_size=256, lr_batch=256,
          weight_decay=1e-4, milestones=(1 / 3, 2 / 3))
