"""Numbers for people: durations in ns/µs/ms/s, memory in KiB/MiB/GiB, counts with correct plurals.

One place for the rules, so the collector's console line, the figures, the tables and the command line
print the same thing for the same value. A leaf module: it imports nothing from mpmon (the analysis,
which otherwise imports only :mod:`mpmon.schema`, may import it too).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = [
    "DURATION_UNITS",
    "MEMORY_UNITS",
    "NS_UNITS",
    "count",
    "duration_unit",
    "format_duration",
    "format_duration_ns",
    "format_memory",
    "memory_unit",
    "number",
    "plural",
]

DURATION_UNITS = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))
"""Duration units, largest first: (name, seconds per unit)."""
MEMORY_UNITS = (("GiB", 1024.0), ("MiB", 1.0), ("KiB", 1 / 1024))
"""Memory units, largest first: (name, MiB per unit)."""


def _unit(value: float, units: tuple[tuple[str, float], ...]) -> tuple[str, float]:
    """The largest unit in which ``abs(value)`` is at least 1 (the smallest unit below that)."""
    size = abs(value)
    return next(((name, scale) for name, scale in units if size >= scale), units[-1])


def duration_unit(seconds: float | Iterable[float]) -> tuple[str, float]:
    """The unit (name, seconds per unit) for a duration, or for a figure showing several: the largest
    finite value decides, so no tick of the figure needs more than three digits before the point."""
    return _unit(_largest(seconds), DURATION_UNITS)


def memory_unit(mib: float | Iterable[float]) -> tuple[str, float]:
    """The unit (name, MiB per unit) for an amount of memory given in MiB, or for a figure of several."""
    return _unit(_largest(mib), MEMORY_UNITS)


def _largest(values: float | Iterable[float]) -> float:
    """The largest finite absolute value (0 when there is none)."""
    items = [values] if isinstance(values, (int, float)) else list(values)
    finite = [abs(float(v)) for v in items if v is not None and math.isfinite(float(v))]
    return max(finite, default=0.0)


def number(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, without exponent, thousands separated."""
    if value == 0:
        return "0"
    decimals = max(digits - 1 - math.floor(math.log10(abs(value))), 0)
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _scaled(value: float, units: tuple[tuple[str, float], ...], sign: bool, digits: int) -> str:
    """``value`` in its own unit; a value that rounds up to 1000 of a unit moves to the next one."""
    if not math.isfinite(value):
        return ""
    name, scale = _unit(value, units)
    shown = float(number(value / scale, digits).replace(",", ""))
    bigger = [u for u in units if u[1] > scale]
    if abs(shown) >= 1000 and bigger and bigger[-1][1] / scale <= 1024:
        # the rounded value moves up, so 999.5 µs reads 1 ms (as format_duration_ns), not 0.999 ms
        value, (name, scale) = shown * scale, bigger[-1]
    text = number(value / scale, digits)
    prefix = "+" if sign and value > 0 else ""
    return f"{prefix}{text} {name}"


def format_duration(seconds: float, *, digits: int = 3) -> str:
    """A duration in its own unit, three significant digits: ``12 ns``, ``3.45 µs``, ``120 ms``, ``2.5 s``
    (``1,234 s`` above a thousand seconds; ``0 s`` for zero; ``""`` for a missing value)."""
    if seconds == 0:
        return "0 s"
    return _scaled(seconds, DURATION_UNITS, False, digits)


def format_duration_ns(ns: int) -> str:
    """A whole number of nanoseconds as :func:`format_duration` writes the same duration, computed in
    integers (three significant digits, rounded half up) so that the collector's column-wise texts
    (``collector/tables.py``) and its record-by-record ones (``rows.message``) agree to the character."""
    ns = max(int(ns), 0)
    if ns == 0:
        return "0 s"
    exp = 0 if ns < 1_000 else 3 if ns < 1_000_000 else 6 if ns < 1_000_000_000 else 9
    rounded, decimals = _rounded_ns(ns, exp)
    if exp < 9 and rounded >= 1000 * 10**decimals:  # 999.5 µs reads 1 ms, not 1,000 µs
        exp += 3
        rounded, decimals = _rounded_ns(ns, exp)
    whole, fraction = divmod(rounded, 10**decimals)
    text = f"{whole:,}"
    if fraction:
        text += "." + f"{fraction:0{decimals}d}".rstrip("0")
    return f"{text} {NS_UNITS[exp // 3]}"


NS_UNITS = ("ns", "µs", "ms", "s")
"""Duration units by power of a thousand nanoseconds: NS_UNITS[exp // 3] is 10**exp ns."""


def _rounded_ns(ns: int, exp: int) -> tuple[int, int]:
    """``ns`` in the unit of 10**exp ns to three significant digits (no fraction of a nanosecond), as
    (a whole number of 10**-decimals units, decimals)."""
    whole = ns // 10**exp
    decimals = min(exp, 2 - (whole >= 10) - (whole >= 100))
    step = 10 ** (exp - decimals)
    return (ns + step // 2) // step, decimals


def format_memory(mib: float, *, sign: bool = False, digits: int = 3) -> str:
    """An amount of memory given in MiB, in KiB, MiB or GiB: ``512 KiB``, ``1.5 MiB``, ``2.25 GiB``;
    with ``sign`` a change shows ``+`` or ``-`` (``0 KiB`` for no change)."""
    if mib == 0:
        return "0 KiB"
    return _scaled(mib, MEMORY_UNITS, sign, digits)


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """``1 call``, ``2 calls``, ``1,234 processes``: the count with thousands separators and the noun
    agreeing with it (``plural_form`` for irregular nouns; ``-es`` after s, x, ch and sh)."""
    if plural_form is None:
        plural_form = singular + ("es" if singular.endswith(("s", "x", "ch", "sh")) else "s")
    return f"{count(n)} {singular if n == 1 else plural_form}"


def count(n: int) -> str:
    """An integer count with thousands separators."""
    return f"{int(n):,}"
