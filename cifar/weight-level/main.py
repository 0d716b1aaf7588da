"""Train the unpruned baseline for weight-level magnitude pruning (Han et al. 2015).

The CIFAR recipe of Liu et al. (2019): 160 epochs, batch 64, SGD lr 0.1 x0.1 at epochs 80
and 120, momentum 0.9, weight decay 1e-4. Models: vgg19, preresnet110, densenet_bc100.
"""
from common.arms import train

if __name__ == "__main__":
    train("weight-level", arch="vgg19", epochs=160, lr=0.1, batch_size=64, weight_decay=1e-4)
