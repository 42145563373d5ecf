"""Put this checkout first on ``sys.path`` so that every script imports its ``spade``,
also inside ``--use-conda`` environments and on cluster nodes that lack the package."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
