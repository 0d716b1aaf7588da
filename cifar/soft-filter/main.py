"""Soft Filter Pruning: train while zeroing the lowest-L2-norm filters after every epoch
(He et al. 2018, Alg. 1).

--rate P is the fraction of filters zeroed in every conv layer (default 0.3; the paper uses
0.1 to 0.4). --rate 0 trains the plain baseline. Recipe of the SFP code: 200 epochs, batch
128, Nesterov SGD momentum 0.9, weight decay 5e-4, lr 0.01 for the first epoch, then 0.1,
x0.2 at epochs 60, 120, 160. Models: sfp_resnet20/32/56/110, the SFP code's ResNets (downsampling shortcut:
the top-left pixel of each 2x2 window); resnet20/32/56/110 have the L1-norm code's 2x2 average.
"""
from common.arms import train

if __name__ == "__main__":
    train("soft-filter", arch="sfp_resnet56", epochs=200, lr=0.1, batch_size=128, weight_decay=5e-4,
          milestones=(0.3, 0.6, 0.8), lr_decay=0.2, warmup_epochs=1, nesterov=True)
