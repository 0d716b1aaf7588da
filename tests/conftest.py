import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the checkout's own `common`, also from a second worktree
    sys.path.insert(0, str(ROOT))
