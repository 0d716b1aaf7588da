"""Network Slimming, step 2: one global threshold over all BN scales, then the smaller network.

--percent P removes the fraction P of all prunable channels, those of smallest |gamma|
(default, the paper's: 0.7 for VGG-19 on CIFAR-10, 0.5 on CIFAR-100; 0.4 for PreResNet-164
and DenseNet-40, which the paper also prunes at 0.6). --min-keep F keeps at least
ceil(F x width) channels (and always one) in every layer; result.json lists the layers
that hit this floor. A checkpoint trained without the sparsity penalty is refused unless
--force is given.
"""
from common.arms import prune

if __name__ == "__main__":
    prune("slimming")
