"""Train the unpruned VGG-16-BN or ResNet-50 for weight-level pruning on ImageNet (the original used the
model-zoo models: `python scripts/download_checkpoints.py vgg16_bn resnet50`): 90 epochs, batch 256, lr
0.1 x0.1 at 30 and 60, momentum 0.9, weight decay 1e-4.
"""
from common.arms import train

if __name__ == "__main__":
    train("weight-level", arch="vgg16_bn", dataset="imagenet", epochs=90, lr=0.1, batch_size=256, lr_batch=256,
          weight_decay=1e-4, milestones=(1 / 3, 2 / 3))
