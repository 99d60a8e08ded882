"""What a run lost, in words both sides say alike: the collector in its run_summary line and stderr
(collector/accounts.py), the program's stop in its outcome (run/outcome.py).

It sits beside the record schema, on the ground floor, so that the collector process never imports the
user-side package (`mpmon/run/`) to word its summary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["LOSS_REASONS", "describe_losses"]

LOSS_REASONS: Final = {
    "write_failures": "records could not be written (the log directory was missing, unwritable or full)",
    "rejected_payloads": "batches or lines were rejected as malformed or oversized (see the quarantine file)",
    "refused_spill_files": "spill files were refused (a link, not a regular file, or another user's)",
    "unrequested_drops": "records were dropped by senders although the run's drop policy is block",
}
"""Each count of the run summary's `lost` object, and what it means."""


def describe_losses(lost: Mapping[str, int]) -> str:
    """The losses of a run in words ("" if none): "1,024 records could not be written (...); ..."."""
    return "; ".join(f"{count:,} {LOSS_REASONS.get(why, why)}" for why, count in lost.items() if count)
