"""Soft Filter Pruning on ImageNet (He et al. 2018, Alg. 1): train ResNet-50 while zeroing the 30% of
filters of smallest L2 norm in every conv but the projection shortcuts, before training and after every
epoch (--rate 0.3, the paper's ImageNet setting; 0 = baseline). The SFP code's ImageNet recipe: 100
epochs, batch 256, lr 0.1 x0.1 every 30 epochs, momentum 0.9, weight decay 1e-4.
"""
from common.arms import train

if __name__ == "__main__":
    train("soft-filter", arch="resnet50", dataset="imagenet", epochs=100, lr=0.1, batch_size=256, lr_batch=256,
          weight_decay=1e-4, milestones=(0.3, 0.6, 0.9))
