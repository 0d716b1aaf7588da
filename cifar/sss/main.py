"""Sparse Structure Selection: train a ResNet with a scale lambda on every residual branch and
an L1 penalty gamma on the scales, updated by accelerated proximal gradient (Huang & Wang 2018).

--gamma G: the penalty (default 0.05, see the README; larger removes more blocks); --gamma 0
trains the plain baseline without scales. The CIFAR recipe of the paper's other CIFAR
methods: 160 epochs, batch 64, SGD lr 0.1 x0.1 at epochs 80 and 120, momentum 0.9, weight
decay 1e-4 (none on lambda). Models: resnet56, preresnet164 (any ResNet or PreResNet).
"""
from common.arms import train

if __name__ == "__main__":
    train("sss", arch="resnet56", epochs=160, lr=0.1, batch_size=64, weight_decay=1e-4)
