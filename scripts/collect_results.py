#!/usr/bin/env python
"""The paper's table from the ``result.json`` files under a runs folder (``common.report``)::

    python scripts/collect_results.py runs [--method l1-norm] [--dataset cifar10]
                                           [--metric best|final] [--out table.md] [--csv table.csv]
                                           [--columns sparsity,epochs_total]
"""
import sys

from common.report import main

if __name__ == "__main__":
    sys.exit(main())
