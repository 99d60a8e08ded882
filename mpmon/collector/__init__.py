"""The collector: the one process of a run that writes files.

`control` runs in the process that owns the run (start, stop); the collector process itself, started
as `python -m mpmon.collector` (`__main__`: a supervisor that restarts its writer if it dies), runs
`server`, `writer`, `ledger` and `sinks` in its writer process.
"""
