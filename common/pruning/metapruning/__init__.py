"""MetaPruning (Liu et al., ICCV 2019): a PruningNet generates the weights of any pruned network from its
width encoding; an evolutionary search picks the encoding under a FLOPs or latency constraint.

* **Encoding** (Sec. 3.1; spec B.1): one gene per searchable width, each one of 31 scales
  ``c_k = (10 + 3k) / 100`` of a base width (``int(base * c_k)``, at least 1). A gene may set several
  cfg entries; with the cfgs of ``common.models`` every gene sets one (a MobileNet V2 or ResNet stage
  has one output width, shared by its blocks through the residual additions). :class:`SearchSpace`.
* **PruningNet** (Sec. 3.2, Fig. 2; spec B.2): for every conv of the network one generator
  ``FC(k -> h) -> ReLU -> FC(h -> numel of the full-width kernel)`` fed the conv's width ratios
  ``[out / out_max, in / in_max]`` (a depthwise conv: ``[width / max]``), its output reshaped to the
  full-width kernel and cropped to the leading ``[:out, :in]`` channels. The forward *is* the plain
  network of the encoding (built on the meta device, run with ``torch.func.functional_call``), so the
  PruningNet at an encoding computes exactly what that network computes with the generated weights.
  Its BatchNorms have no affine parameters (the authors' choice, spec B.2) and normalise with the
  batch's statistics: they keep no running statistics, which the authors' per-width BN modules
  held but never used -- before any evaluation a candidate's statistics are re-estimated (below).
  The classifier is an ordinary layer (its input width is fixed).
* **Training** (Sec. 3.2; spec B.3): a new random encoding every batch (:class:`EncodingSampler`,
  an engine hook before the forward), label smoothing 0.1.
* **Search** (Sec. 3.3, Alg. 1; spec B.4): :class:`EvolutionarySearch` -- population 50, the best 10
  seen are the parents, 25 mutations (each gene with probability 0.1 to another value), 25
  crossovers (uniform), random candidates fill the rest, 20 iterations; candidates outside the
  constraint are rejected before evaluation; fitness = top-1 error on held-out training images
  after re-estimating BN statistics (:func:`fitness`), cached on disk so a killed search resumes.
* **Constraints**: FLOPs by our counter (``common.flops``: conv and linear multiply-accumulates) or
  by the authors' (:func:`authors_flops`: also biases, BN, ReLU and pooling elements), and latency
  summed from a per-layer latency table measured on the current device (:class:`LatencyTable`).

The library is four files: ``space.py`` (encodings), ``pruningnet.py`` (the PruningNet, its training hook,
generated networks, fitness), ``cost.py`` (FLOPs and latency of a candidate, the constraint) and ``search.py``
(the evolutionary search).
"""

from common.pruning.metapruning.cost import (Constraint, LatencyTable, Layer, NetworkCounter, authors_flops,
                                             flops_range)
from common.pruning.metapruning.pruningnet import (EncodingSampler, PruningNet, fitness, generate,
                                                   recalibrate_bn)
from common.pruning.metapruning.search import EvolutionarySearch
from common.pruning.metapruning.space import (FULL, SCALES, SEARCH_ARCHS, SearchSpace, sample_encoding,
                                              search_space, uniform_encoding)

__all__ = ["Constraint", "EncodingSampler", "EvolutionarySearch", "FULL", "LatencyTable", "Layer", "NetworkCounter",
           "PruningNet", "SCALES", "SEARCH_ARCHS", "SearchSpace", "authors_flops", "fitness", "flops_range",
           "generate", "recalibrate_bn", "sample_encoding", "search_space", "uniform_encoding"]
