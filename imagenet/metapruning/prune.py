"""MetaPruning on ImageNet, step 2: the evolutionary search (Sec. 3.3; spec B.4) under --max-mflops (the
authors' MobileNet V2 targets are 300/140/43 M in their counter: add --flops-counter authors) and/or
--max-latency-ms (a per-layer latency table measured on --device); fitness after re-estimating BN on
100 training batches (of 1000 images in the authors' code: --batch-size 1000). --uniform: the uniform
baseline at the same constraint.
"""
from common.arms import prune

if __name__ == "__main__":
    prune("metapruning", batch_size=1000)
