"""Network Slimming on ImageNet, step 1: train VGG-11 (BN, the slimming head: FC -> BN1d -> ReLU twice)
with the L1 penalty on every BN scale, 2d and 1d (Liu et al. 2017, Eq. 1), lambda 1e-5 (--sparsity; 0 is
the plain baseline). The original's ImageNet recipe: 90 epochs, batch 256, lr 0.1 x0.1 at 30 and 60,
momentum 0.9, weight decay 1e-4.
"""
from common.arms import train

if __name__ == "__main__":
    train("slimming", arch="vgg11_bn_slimming", dataset="imagenet", epochs=90, lr=0.1, batch_size=256,
          lr_batch=256, weight_decay=1e-4, milestones=(1 / 3, 2 / 3))
