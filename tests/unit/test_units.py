"""Numbers for people: one table of values and the labels they must read as, and the console line."""

from __future__ import annotations

import math

import pytest

from mpmon import rows
from mpmon.units import count, duration_unit, format_duration, format_memory, memory_unit, plural

DURATIONS = [
    (0.0, "0 s"),
    (4e-10, "0.4 ns"),
    (2.4e-8, "24 ns"),
    (8.12e-7, "812 ns"),
    (1e-6, "1 µs"),
    (3.456e-6, "3.46 µs"),
    (2.4e-5, "24 µs"),
    (0.0009999, "1 ms"),
    (0.00425, "4.25 ms"),
    (0.161, "161 ms"),
    (0.99996, "1 s"),
    (2.5, "2.5 s"),
    (99.5, "99.5 s"),
    (1234.4, "1,234 s"),
    (-0.003, "-3 ms"),
    (math.nan, ""),
]
MEMORY_MIB = [
    (0.0, "0 KiB", "0 KiB"),
    (4 / 1024, "4 KiB", "+4 KiB"),
    (0.5, "512 KiB", "+512 KiB"),
    (1023.9 / 1024, "1 MiB", "+1 MiB"),
    (1.5, "1.5 MiB", "+1.5 MiB"),
    (40.125, "40.1 MiB", "+40.1 MiB"),
    (2304.0, "2.25 GiB", "+2.25 GiB"),
    (-0.25, "-256 KiB", "-256 KiB"),
]
COUNTS = [
    (0, "call", "0 calls"),
    (1, "call", "1 call"),
    (2, "call", "2 calls"),
    (1_234, "call", "1,234 calls"),
    (1, "process", "1 process"),
    (3, "process", "3 processes"),
    (1, "error", "1 error"),
    (1, "function", "1 function"),
    (12, "function", "12 functions"),
]


@pytest.mark.parametrize(("seconds", "label"), DURATIONS)
def test_durations(seconds: float, label: str) -> None:
    """ns, µs, ms or s, three significant digits, no exponent, no 1000 of a unit."""
    assert format_duration(seconds) == label


@pytest.mark.parametrize(("mib", "label", "signed"), MEMORY_MIB)
def test_memory(mib: float, label: str, signed: str) -> None:
    """KiB, MiB or GiB (powers of 1024); a change carries its sign."""
    assert format_memory(mib) == label
    assert format_memory(mib, sign=True) == signed


@pytest.mark.parametrize(("n", "noun", "label"), COUNTS)
def test_counts_and_plurals(n: int, noun: str, label: str) -> None:
    """Integers with separators; the noun agrees with the count."""
    assert plural(n, noun) == label


def test_units_per_figure() -> None:
    """A figure's unit is that of its largest value; missing values are ignored."""
    assert duration_unit([1e-5, 0.3, math.nan]) == ("ms", 1e-3)
    assert duration_unit([2e-7]) == ("ns", 1e-9)
    assert memory_unit([0.0, 0.01]) == ("KiB", 1 / 1024)
    assert memory_unit([3000.0]) == ("GiB", 1024.0)
    assert count(1234567) == "1,234,567"


def _row(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "process_name": "ForkPoolWorker-1",
        "pid": 123,
        "function": "work",
        "duration_s": 8.12e-7,
        "cpu_time_s": 1.2e-6,
        "mem_delta_mib": 4 / 1024,
        "mem_final_mib": 40.125,
        "error_type": "",
        "message": "work finished in 0.000001 s",
    }
    base.update(changes)
    return base


def test_console_line_units() -> None:
    """Sub-microsecond calls read in ns, not as 0.000000 s; memory in KiB when small."""
    assert rows.console_line(_row()) == (
        "ForkPoolWorker-1[123] work finished in 812 ns (CPU 1.2 µs, memory +4 KiB, now 40.1 MiB)"
    )
    assert rows.console_line(_row(cpu_time_s=None, duration_s=2.5, error_type="ValueError")) == (
        "ForkPoolWorker-1[123] work finished in 2.5 s, raised ValueError"
    )
    assert rows.console_line(_row(mem_final_mib=None, duration_s=0.0123)).endswith("in 12.3 ms (CPU 1.2 µs)")
