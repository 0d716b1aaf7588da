#!/usr/bin/env python
"""Top-1 against how much the model was pruned, from the ``result.json`` files under a runs folder
(``common.plots``)::

    python scripts/plot_results.py runs [--method weight-level] [--dataset cifar10]
                                        [--metric best|final] [--x auto|sparsity|flops|params]
                                        [--arms finetune,scratch-E,scratch-B] [--out plot.png]
"""
import sys

from common.plots import main

if __name__ == "__main__":
    sys.exit(main())
