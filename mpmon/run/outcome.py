"""What `stop_collector()` could not confirm about a run: said loudly on stderr, never silently; and for a
run started with `start_collector(strict=True)`, raised from `stop_collector()` (RunIncomplete), or, when
the run is stopped at exit, made the program's exit status (EXIT_STATUS).

A run is complete when its collector drained every peer, ended in time and lost nothing: every record
handed over is then on disk. What the collector lost it reports in its answer to the stop request (the
`lost` counts of the run summary, losses.LOSS_REASONS): records it could not write, batches or lines it
rejected (quarantined), spill files it refused, drops the run did not ask for. A collector that died
during the run and was restarted, having ingested what was spilled meanwhile, leaves the run complete,
but is reported.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Final

from ..losses import LOSS_REASONS, describe_losses  # the collector's run summary words them alike

__all__ = ["EXIT_STATUS", "LOSS_REASONS", "RunIncomplete", "describe_losses", "report", "say"]

EXIT_STATUS: Final = 3
"""The exit status of a strict run that ends, at exit, without its records confirmed on disk."""


class RunIncomplete(RuntimeError):
    """A run started with `strict=True` ended without the collector confirming every record written."""


def report(
    run_id: str,
    log_dir: str,
    deaths: list[str],
    failure: str,
    confirmed: bool,
    ended: bool,
    lost: Mapping[str, int] | None = None,
) -> str:
    """Say on stderr what the stop of a run could not confirm; return why the run is incomplete ("" if
    it is complete). `lost`: the collector's counts of what it could not write (LOSS_REASONS)."""
    if deaths:
        say(
            f"WARNING: the collector of run {run_id} died {len(deaths)} time(s) during the run "
            f"({'; '.join(deaths)}); it was restarted to ingest the spilled records: check {log_dir} for "
            "spill files"
        )
    if failure:
        say(f"could not stop the collector cleanly: {failure}")
    if not ended:
        why = (
            f"the collector of run {run_id} did not end in time and was killed: records it had not written "
            f"are lost; records not yet handed over are in spill files in {log_dir}, ingested by the next "
            "collector there"
        )
        say(f"WARNING: {why}")
        return why
    if not confirmed:
        why = f"the collector of run {run_id} ended without confirming that it drained every peer"
        say(why)
        return why
    losses = describe_losses(lost or {})
    if losses:
        why = f"run {run_id} is incomplete: {losses}"
        say(f"WARNING: {why}")
        return why
    return failure and f"the collector of run {run_id} could not be stopped cleanly: {failure}"


def say(text: str) -> None:
    print(f"mpmon: {text}", file=sys.stderr, flush=True)
