"""Network Slimming, step 1: train with the L1 sparsity penalty on BN scales (Liu et al. 2017, Eq. 1).

--sparsity LAMBDA (default: 1e-4 for VGG, 1e-5 for PreResNet and DenseNet, the paper's);
--sparsity 0 trains the plain baseline. Recipe of the original code: 160 epochs, batch 64,
SGD lr 0.1 x0.1 at epochs 80 and 120, momentum 0.9, weight decay 1e-4.
Models: vgg19, preresnet164, densenet40 (any CIFAR arch with channel groups works).
"""
from common.arms import train

if __name__ == "__main__":
    train("slimming", arch="vgg19", epochs=160, lr=0.1, batch_size=64, weight_decay=1e-4)
