import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the checkout's own `common`, also from a second worktree
    sys.path.insert(0, str(ROOT))

# The tests train tiny models on tiny batches: one intra-op thread is as fast on an idle machine
# and 5-10x faster on a busy one (OpenMP threads spinning against other processes). Subprocesses
# started by the tests inherit it through OMP_NUM_THREADS.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")
