"""The results' `message` column by columns: rows.message() of every call of a round ("work finished in
1.5 µs, raised ValueError"), each duration in its own unit (units.format_duration_ns), without a Python
step per row.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import rows
from ..units import NS_UNITS
from . import measures

__all__ = ["durations", "messages"]


def messages(function: pa.Array, duration_ns: pa.Array, error_type: pa.Array, failed: pa.Array) -> pa.Array:
    """rows.message() of every row, by columns: the duration in its own unit (units.format_duration_ns)."""
    if len(function) < measures.ROW_BY_ROW:
        made = map(rows.message, function.to_pylist(), duration_ns.to_pylist(), error_type.to_pylist())
        return pa.array(list(made), pa.string())
    text = pc.binary_join_element_wise(function, " finished in ", *durations(duration_ns, joined=False), "")
    if not pc.any(failed).as_py():
        return text
    return pc.if_else(failed, pc.binary_join_element_wise(text, error_type, ", raised "), text)


_POW10: Final = np.array([10**e for e in range(19)], np.int64)
_SUFFIXES: Final = pa.array(
    [f"{f'.{cents:02d}'.rstrip('0').rstrip('.')} {unit}" for cents in range(100) for unit in NS_UNITS],
    pa.string(),
)
"""The text after a duration's whole number: its hundredths (trailing zeros dropped) and its unit,
at index hundredths x 4 + unit (the unit's index in units.NS_UNITS)."""


def durations(ns: pa.Array, joined: bool = True) -> Any:
    """units.format_duration_ns() of every value, by columns (numpy integers, then Arrow text): the unit
    chosen per row, three significant digits rounded half up, 999.5 µs read as 1 ms. Not `joined`: the
    whole numbers and the rest as two arrays (the caller joins them with its own texts in one call)."""
    values = np.maximum(ns.to_numpy(zero_copy_only=False), 0)
    unit = (values >= 1_000).astype(np.int64) + (values >= 1_000_000) + (values >= 1_000_000_000)
    rounded, decimals = _rounded(values, unit)
    bump = (unit < 3) & (rounded >= 1000 * _POW10[decimals])
    if bump.any():
        unit += bump
        rounded, decimals = _rounded(values, unit)
    unit[values == 0] = 3  # "0 s"
    whole, fraction = np.divmod(rounded, _POW10[decimals])
    suffix = pc.take(_SUFFIXES, pa.array(fraction * _POW10[2 - decimals] * 4 + unit))
    if not joined:
        return _grouped(pa.array(whole)), suffix
    return pc.binary_join_element_wise(_grouped(pa.array(whole)), suffix, "")


def _rounded(values: np.ndarray, unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """units._rounded_ns of every value in its unit (10**(3 x unit) ns): (a whole number of 10**-decimals
    units, decimals), three significant digits but no fraction of a nanosecond."""
    exp = 3 * unit
    whole = values // _POW10[exp]
    decimals = np.minimum(exp, 2 - (whole >= 10) - (whole >= 100).astype(np.int64))
    step = _POW10[exp - decimals]
    return (values + step // 2) // step, decimals


def _digits(values: pa.Array, scale: pa.Scalar) -> pa.Array:
    """Each value (below scale, a power of ten) as exactly log10(scale) digits, zero-padded."""
    return pc.utf8_slice_codeunits(pc.cast(pc.add(values, scale), pa.string()), 1)


def _grouped(whole: pa.Array) -> pa.Array:
    """Whole numbers as text with thousands separators (1,234)."""
    if whole.null_count == 0 and (whole.to_numpy() < 1000).all():  # the usual: one call
        return pc.cast(whole, pa.string())
    if not pc.any(pc.greater_equal(whole, 1000)).as_py():
        return pc.cast(whole, pa.string())
    high = pc.divide(whole, 1000)
    low = pc.subtract(whole, pc.multiply(high, 1000))
    grouped = pc.binary_join_element_wise(_grouped(high), _digits(low, pa.scalar(1000, pa.int64())), ",")
    return pc.if_else(pc.greater(high, 0), grouped, pc.cast(low, pa.string()))
