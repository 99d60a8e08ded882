"""Tests of mpmon.analysis: loading, statistics, figures, the report folder and the command line."""
