"""The collector process: the one process of a run that writes files.

Started as `python -m mpmon.collector` (`__main__`: a supervisor that restarts its writer if it dies),
it runs `server`, `writer`, `ledger` and `sinks` in its writer process. `settings` is what the owner of
the run hands it; starting and stopping it from the user's program is `mpmon/run/`. Called, as
`mpmon.collector(...)`, the package is `run.control.collector` (there, `_CollectorPackage`).
"""
