"""Shared test settings. The tests import ``common`` as installed (``pip install -e .``); their
helpers (``helpers.py``) sit next to this file."""

import os

import torch

# The tests train tiny models on tiny batches: one intra-op thread is as fast on an idle machine
# and 5-10x faster on a busy one (OpenMP threads spinning against other processes). Subprocesses
# started by the tests inherit it through OMP_NUM_THREADS.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")
