"""Train the unpruned baseline ThiNet prunes: the CIFAR recipe of cifar/l1-norm (160 epochs,
batch 64, lr 0.1 x0.1 at epochs 80 and 120, momentum 0.9, wd 1e-4). A baseline trained by
cifar/l1-norm/main.py serves as well (scripts/cifar/thinet.sh reuses it).
"""
from common.arms import train

if __name__ == "__main__":
    train("thinet", arch="vgg16_mlp", epochs=160, lr=0.1, batch_size=64, weight_decay=1e-4)
