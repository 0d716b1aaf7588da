"""Train the unpruned baseline that first-order Taylor pruning starts from (Molchanov et al., ICLR 2017): the
L1-norm recipe of Liu et al., so the two criteria prune the same kind of network. 160 epochs, batch 64, SGD lr
0.1 x0.1 at epochs 80 and 120, momentum 0.9, weight decay 1e-4. (The table prunes the L1-norm baseline itself.)
"""
from common.arms import train

if __name__ == "__main__":
    train("taylor", arch="vgg16_mlp", epochs=160, lr=0.1, batch_size=64, weight_decay=1e-4)
