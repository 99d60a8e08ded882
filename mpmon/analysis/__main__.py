"""``python -m mpmon.analysis``: the same as the ``mpmon-analyze`` command."""

from __future__ import annotations

import sys

from mpmon.analysis.cli import main

if __name__ == "__main__":
    sys.exit(main())
