"""Train the unpruned VGG-16 (no BN) or ResNet-50 that ThiNet prunes, on ImageNet: the ImageNet recipe of
the original code, 90 epochs, batch 256, lr x0.1 at 30 and 60, momentum 0.9, weight decay 1e-4 -- lr 0.01
for VGG-16 without BN (as the original's README), pass --lr 0.1 for ResNet-50. The paper pruned the
model-zoo models: `python scripts/download_checkpoints.py vgg16 resnet50` fetches them.
"""
from common.arms import train

if __name__ == "__main__":
    train("thinet", arch="vgg16_nobn", dataset="imagenet", epochs=90, lr=0.01, batch_size=256, lr_batch=256,
          weight_decay=1e-4, milestones=(1 / 3, 2 / 3))
