"""The results' `args` column by columns: rows.args_json() of every call of a round, without a Python
step per row for the common case.

A call's arguments arrive rendered, `((positional reprs), ((name, repr), ...))` or None. Positional
texts of printable ASCII without quotes or backslashes (ints, floats, short words, most reprs) need no
escaping in JSON, so their JSON is joined by Arrow. The rest (keyword arguments, texts JSON escapes,
anything of another shape) takes rows.args_json() row by row, so every row is exactly its text.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..rows import args_json

__all__ = ["args_column"]

_SHAPE: Final = pa.struct([("args", pa.list_(pa.string())), ("kwargs", pa.list_(pa.list_(pa.string())))])
_ESCAPED: Final = r"[^ !#-\[\]-~]"  # what json's encode_basestring_ascii escapes: all but these


def args_column(args: tuple[Any, ...]) -> pa.Array | list[str]:
    """rows.args_json() of each call's arguments, "" for a call without any."""
    if not any(args):
        return [""] * len(args)
    try:
        rendered = pa.array(args, _SHAPE)
    except (pa.ArrowException, TypeError, ValueError, UnicodeError):  # not the usual shape: row by row
        return [args_json(a) for a in args]
    positional = rendered.field("args")
    by_python = pc.fill_null(pc.greater(pc.list_value_length(rendered.field("kwargs")), 0), False)
    texts = positional.flatten()
    escaped = pc.match_substring_regex(texts, _ESCAPED)
    if pc.any(escaped).as_py():
        rows = pc.list_parent_indices(positional).to_numpy()[escaped.to_numpy(zero_copy_only=False)]
        marked = np.zeros(len(args), bool)
        marked[rows] = True
        by_python = pc.or_(by_python, pa.array(marked))
    joined = pc.binary_join_element_wise('"', pc.binary_join(positional, '","'), '"', "")
    listed = pc.if_else(pc.greater(pc.list_value_length(positional), 0), joined, "")
    text = pc.binary_join_element_wise('{"args":[', listed, '],"kwargs":{}}', "")
    text = pc.if_else(rendered.is_valid(), text, "")  # None: no arguments
    if pc.any(by_python).as_py():
        where = np.flatnonzero(by_python.to_numpy(zero_copy_only=False))
        slow = pa.array([args_json(args[i]) for i in where], pa.string())
        text = pc.replace_with_mask(text, by_python, slow)
    return text
