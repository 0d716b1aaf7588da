"""Prune VGG-16 or ResNet-50 by LASSO channel selection and least-squares reconstruction (He et al.
2017, Eq. 1-4) to a FLOPs target: VGG-16-5x (--speedup 5: conv1_1 ... conv4_3, conv4_x keeping 1.5x the
fraction of the others) and ResNet-50-2x (--speedup 2: a ResNet-50 gets a channel sampler in front of
every bottleneck's first conv, which is pruned with the block's two inner convs; the last conv is
reconstructed towards the block's original sum). --images 5000 is the paper's sample; the default is
smaller. --published vgg-5x|resnet-2x builds the paper's released architecture, for main_scratch.py.
"""
from common.arms import prune

if __name__ == "__main__":
    prune("regression", dataset="imagenet")
