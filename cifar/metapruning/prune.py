"""MetaPruning, step 2: evolutionary search over width encodings under a FLOPs (--max-mflops, --min-mflops)
and/or measured-latency (--max-latency-ms) constraint; fitness = top-1 error on the held-out training
images of the PruningNet-generated network after re-estimating its BN statistics (Sec. 3.3, Alg. 1;
population 50, top-10 parents, 25 mutations at p = 0.1, 25 crossovers, 20 iterations). Writes the
winner with its generated weights; --uniform gives the uniform-width baseline at the same constraint.
"""
from common.arms import prune

if __name__ == "__main__":
    prune("metapruning", batch_size=128)
