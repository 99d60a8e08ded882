"""The user's side of a run: what runs in the program that owns the run, never in the collector process.

`control` starts, supervises and stops the collector process (`start_collector()`, `stop_collector()`),
through `launch` (the process started and published) and `shutdown` (asked to stop, ended); `misuse`
says when a start would misplace records; `private` makes and sweeps its private directory; `program`
names the user's program for the run_start line; `outcome` says what a stop could not confirm. The
collector process itself is `mpmon/collector/`.
"""
