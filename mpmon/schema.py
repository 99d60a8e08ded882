"""The record, defined once: its columns, their order and types, the file names and the JSON keys.

Every writer (the collector's sinks) and every reader (the analysis) takes names from here, so the CSV
header, the Arrow schema and the JSON lines can never drift apart. This module imports nothing heavy:
the Arrow schema and pandas dtypes are built on demand by the functions at the bottom.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, NamedTuple

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "CLOCK_LOGGER",
    "COLUMNS",
    "COLUMN_NAMES",
    "CSV_HEADER",
    "DROP_POLICIES",
    "ERROR_COLUMNS",
    "ERROR_COLUMN_NAMES",
    "ERROR_CSV_HEADER",
    "ERROR_LOG",
    "ERROR_LOG_KEYS",
    "ERROR_RESULTS_CSV",
    "ERROR_RESULTS_PARQUET",
    "EVENT_CALL",
    "EVENT_CLOCK_OFFSET",
    "EVENT_LOG",
    "EXECUTABLE_NAME",
    "LIVE_SNAPSHOT",
    "LOCK_FILE",
    "QUARANTINE_PREFIX",
    "RESULTS_CSV",
    "RESULTS_FORMATS",
    "RESULTS_PARQUET",
    "RUNTIME_DESCRIPTION",
    "RUNTIME_NAME",
    "RUNTIME_VERSION",
    "RUN_START_EVENT",
    "RUN_START_PROGRAM_KEYS",
    "RUN_START_SCRIPT",
    "RUN_SUMMARY_EVENT",
    "SPILL_GLOB",
    "SPILL_PREFIX",
    "TIMESTAMP_COLUMNS",
    "TIMING_LOG",
    "TIMING_LOG_KEYS",
    "Column",
    "arrow_schema",
    "error_arrow_schema",
    "pandas_dtypes",
]


class Column(NamedTuple):
    """One column of the results table: its name, its logical type and what it holds."""

    name: str
    kind: str  # "string", "timestamp", "float" or "int"
    meaning: str


COLUMNS: Final[tuple[Column, ...]] = (
    Column("run_id", "string", "one per start_collector()"),
    Column("call_id", "string", "a UUID unique to this call"),
    Column(
        "parent_id", "string", "call_id of the enclosing monitored call in the same thread, empty if none"
    ),
    Column("source", "string", "'timer' or 'hook'"),
    Column("function", "string", "the function's __qualname__, or the hook's func_name"),
    Column("module", "string", "the function's module"),
    Column("start_time", "timestamp", "wall clock at call start, UTC"),
    Column("end_time", "timestamp", "wall clock at call end, UTC"),
    Column("duration_s", "float", "perf_counter difference, seconds"),
    Column(
        "cpu_time_s",
        "float",
        "process user+system CPU difference less the CPU probe's own cost, seconds (empty if not tracked)",
    ),
    Column("mem_delta_mib", "float", "RSS after minus before, MiB (empty if not tracked)"),
    Column("mem_final_mib", "float", "RSS after, MiB (empty if not tracked)"),
    Column("pid", "int", "process id"),
    Column("process_name", "string", "multiprocessing process name"),
    Column("thread_name", "string", "thread name"),
    Column("host", "string", "host name"),
    Column("status", "string", "'ok' or 'error'"),
    Column("error_type", "string", "exception class name, empty if ok"),
    Column("args", "string", "JSON of sanitized, truncated argument reprs"),
    Column("message", "string", "the human-readable line"),
)

COLUMN_NAMES: Final[tuple[str, ...]] = tuple(c.name for c in COLUMNS)
CSV_HEADER: Final[str] = ",".join(f'"{name}"' for name in COLUMN_NAMES)
TIMESTAMP_COLUMNS: Final[tuple[str, ...]] = tuple(c.name for c in COLUMNS if c.kind == "timestamp")

ERROR_COLUMNS: Final[tuple[Column, ...]] = (
    Column("run_id", "string", "one per start_collector()"),
    Column("call_id", "string", "the call's id: equals call_id of its Timer row when the two are stacked"),
    Column("function", "string", "the function's __qualname__"),
    Column("module", "string", "the function's module"),
    Column("time", "timestamp", "wall clock when the exception was caught, UTC"),
    Column("pid", "int", "process id"),
    Column("process_name", "string", "multiprocessing process name"),
    Column("thread_name", "string", "thread name"),
    Column("host", "string", "host name"),
    Column("error_type", "string", "exception class name"),
    Column("error_message", "string", "str() of the exception, sanitized"),
    Column("traceback", "string", "the formatted traceback, sanitized"),
    Column("args", "string", "JSON of sanitized, truncated argument reprs"),
)
"""The error results table (error_results.csv / error_results.parquet/): one row per caught error."""

ERROR_COLUMN_NAMES: Final[tuple[str, ...]] = tuple(c.name for c in ERROR_COLUMNS)
ERROR_CSV_HEADER: Final[str] = ",".join(f'"{name}"' for name in ERROR_COLUMN_NAMES)

RESULTS_FORMATS: Final = ("csv", "parquet")
DROP_POLICIES: Final = ("block", "drop")

# File names inside a log directory.
TIMING_LOG: Final = "timing.log"
ERROR_LOG: Final = "error.log"
RESULTS_CSV: Final = "timing_results.csv"
RESULTS_PARQUET: Final = "timing_results.parquet"
ERROR_RESULTS_CSV: Final = "error_results.csv"
ERROR_RESULTS_PARQUET: Final = "error_results.parquet"
LIVE_SNAPSHOT: Final = "mpmon-live.json"  # the run's figures now, rewritten about once a second (`mpmon top`)
LOCK_FILE: Final = ".mpmon.lock"  # taken by a collector around each write round and rotation
QUARANTINE_PREFIX: Final = "mpmon-quarantine-"  # input the collector could not turn into rows
SPILL_PREFIX: Final = "mpmon-spill-"
SPILL_GLOB: Final = SPILL_PREFIX + "*.jsonl"

# timing.log holds JSON lines of several events, told apart by the "event" key.
EVENT_CALL: Final = "call"  # one monitored call: every results column, plus the keys below
EVENT_LOG: Final = "log"  # an ordinary logging record captured with capture_logging=True
# A host's clock offset: scheduler_clock = local_clock + offset_s for records of that host (Dask workers
# send it as a LOG record of the logger CLOCK_LOGGER whose message is repr(float)).
EVENT_CLOCK_OFFSET: Final = "clock_offset"
CLOCK_LOGGER: Final = "mpmon.clock"
RUN_START_EVENT: Final = "run_start"  # written when a collector starts a run (run_id, tag, the keys below)
# What program started the collector, in its run_start line (absent from logs of older mpmon):
RUN_START_SCRIPT: Final = "script"  # nightly_job for python nightly_job.py, pkg.mod for python -m pkg.mod
# ... and its Python runtime, under the OpenTelemetry semantic conventions' names.
RUNTIME_NAME: Final = "process.runtime.name"  # sys.implementation.name: cpython, pypy
RUNTIME_VERSION: Final = "process.runtime.version"  # platform.python_version(): 3.12.3
RUNTIME_DESCRIPTION: Final = "process.runtime.description"  # sys.version
EXECUTABLE_NAME: Final = "process.executable.name"  # the interpreter's file name: python3.12
RUN_START_PROGRAM_KEYS: Final[tuple[str, ...]] = (
    RUN_START_SCRIPT, RUNTIME_NAME, RUNTIME_VERSION, RUNTIME_DESCRIPTION, EXECUTABLE_NAME,
)  # fmt: skip
# The one line per run that the collector writes at stop; analysis must never count it as a call.
RUN_SUMMARY_EVENT: Final = "run_summary"
# A call line: every results column, plus these (uuid repeats call_id under the seed's name).
TIMING_LOG_KEYS: Final[tuple[str, ...]] = ("timestamp", "level", "event", "uuid", *COLUMN_NAMES)
ERROR_LOG_KEYS: Final[tuple[str, ...]] = (
    "timestamp",
    "level",
    "message",
    "function",
    "module",
    "uuid",
    "run_id",
    "pid",
    "process_name",
    "thread_name",
    "host",
    "error_type",
    "error_message",
    "traceback",
    "args",
)


def arrow_schema() -> pa.Schema:
    """The results table as an Arrow schema (timestamps are UTC, microseconds)."""
    return _arrow_schema(COLUMNS)


def _arrow_schema(columns: tuple[Column, ...]) -> pa.Schema:
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "float": pa.float64(),
        "int": pa.int64(),
    }
    return pa.schema([pa.field(c.name, types[c.kind]) for c in columns])


def error_arrow_schema() -> pa.Schema:
    """The error results table as an Arrow schema."""
    return _arrow_schema(ERROR_COLUMNS)


def pandas_dtypes() -> dict[str, str]:
    """dtypes for reading the results table with pandas (timestamps are parsed separately)."""
    types = {"string": "string", "float": "float64", "int": "int64"}
    return {c.name: types[c.kind] for c in COLUMNS if c.kind in types}
