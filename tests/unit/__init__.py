"""Fast unit tests: in this process only (no subprocess, no collector process, no Pool)."""
