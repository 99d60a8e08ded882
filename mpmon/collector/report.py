"""The collector's one way to tell the user something on stderr, rate-limited per topic.

A collector that meets the same trouble thousands of times (a peer flood, a full disk, a poisoned
spill file) says it once, then at most once per `QUIET_SECONDS` with the number of times it happened
meanwhile, so stderr stays readable and the writer never spends its time printing.
"""

from __future__ import annotations

import sys
import time
from typing import Final

__all__ = ["QUIET_SECONDS", "say"]

QUIET_SECONDS: Final = 10.0

_last: dict[str, tuple[float, int]] = {}  # topic -> (monotonic time last said, times not said since)


def say(topic: str, text: str, *, always: bool = False) -> bool:
    """Print `mpmon collector: text` unless `topic` was said less than QUIET_SECONDS ago; True if printed."""
    now = time.monotonic()
    said, quiet = _last.get(topic, (-QUIET_SECONDS, 0))
    if not always and now - said < QUIET_SECONDS:
        _last[topic] = (said, quiet + 1)
        return False
    _last[topic] = (now, 0)
    more = f" ({quiet} more like it)" if quiet else ""
    print(f"mpmon collector: {text}{more}", file=sys.stderr, flush=True)
    return True
