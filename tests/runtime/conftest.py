"""The runtime tests' shared helpers (rtsupport, grantsupport, trapsupport)
live here; tests in the subfolders import them by name."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
