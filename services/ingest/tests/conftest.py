"""Makes the shared test kit (``ingest_testkit``) importable from every ingest test module."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
