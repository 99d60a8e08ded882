"""The collector: the one process of a run that writes files.

`control` runs in the process that owns the run (start, supervise, stop); `server`, `writer` and `sinks`
run in the collector process itself, started as `python -m mpmon.collector`.
"""
