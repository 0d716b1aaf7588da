"""Sparse Structure Selection on ImageNet: ResNet-50 with a scale lambda on every residual branch and an
L1 penalty gamma on the scales, updated by accelerated proximal gradient (Huang & Wang 2018, Eq. 2, 7-9);
--gamma 0.01 is the authors' (resnet-50-sss-0.01), 0 trains the plain baseline. The authors' recipe:
100 epochs, batch 256, lr 0.1 x0.1 at 30, 60 and 90, momentum 0.9, weight decay 1e-4 (none on lambda).
"""
from common.arms import train

if __name__ == "__main__":
    train("sss", arch="resnet50", dataset="imagenet", epochs=100, lr=0.1, batch_size=256, lr_batch=256,
          weight_decay=1e-4, milestones=(0.3, 0.6, 0.9))
