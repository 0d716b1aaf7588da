"""Train the unpruned baseline for L1-norm filter pruning (Li et al. 2017).

Paper recipe (Sec. 4 and the original code): 160 epochs, batch 64, SGD lr 0.1 x0.1 at
epochs 80 and 120, momentum 0.9, weight decay 1e-4. Models: vgg16_mlp, resnet56, resnet110.
"""
from common.arms import train

if __name__ == "__main__":
    train("l1-norm", arch="vgg16_mlp", epochs=160, lr=0.1, batch_size=64, weight_decay=1e-4)
