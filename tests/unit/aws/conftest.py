from __future__ import annotations

import sys
from pathlib import Path

# The deploy tests share builders in deploy_builders.py next to this file.
sys.path.insert(0, str(Path(__file__).parent))
