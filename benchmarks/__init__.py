"""mpmon's benchmark suite: run it with ``python -m benchmarks`` (see benchmarks/README.md)."""
