"""Argument rendering is bounded in time and size whatever the caller passes (issue 10, item 4)."""

from __future__ import annotations

import json

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from mpmon.render import (
    DEFAULT_MAX_ARG_LENGTH,
    MAX_ARGS,
    MAX_ARGS_FIELD,
    MAX_ITEMS,
    Rendered,
    _plain_reprs,
    bounded_repr,
    cap_args,
    render_args,
)
from mpmon.rows import args_json


class Counted:
    """An item that counts the calls of its __repr__ and comparisons (reprlib sorts sets and dicts)."""

    reprs = 0
    comparisons = 0

    def __init__(self, number: int) -> None:
        self.number = number

    def __repr__(self) -> str:
        Counted.reprs += 1
        return f"C{self.number}"

    def __lt__(self, other: Counted) -> bool:
        Counted.comparisons += 1
        return self.number < other.number


class TestBoundedContainers:
    def test_big_dict_shows_its_first_keys_in_insertion_order(self) -> None:
        """A 3M-key dict is shown by its first MAX_ITEMS keys as inserted, not sorted, and then '...'."""
        big = dict.fromkeys(range(3_000_000, 0, -1), 0)
        rendered = render_args((big,), {}, None, None)
        assert rendered is not None
        (text,) = rendered[0]
        expected = ", ".join(f"{k}: 0" for k in range(3_000_000, 3_000_000 - MAX_ITEMS, -1))
        assert text == "{" + expected + ", ...}"

    def test_set_is_neither_sorted_nor_walked(self) -> None:
        """A set of 100,000 objects: no comparison at all, and __repr__ of MAX_ITEMS of them at most."""
        items = {Counted(n) for n in range(100_000)}
        Counted.reprs = Counted.comparisons = 0
        text = bounded_repr(items, 500)
        assert Counted.comparisons == 0
        assert 0 < Counted.reprs <= MAX_ITEMS
        assert text.startswith("{C") and text.endswith("...}")

    def test_user_repr_is_called_and_cut(self) -> None:
        """An object's own __repr__ is still what shows, cut to max_arg_length."""

        class Long:
            def __repr__(self) -> str:
                return "Long<" + "x" * 1000 + ">"

        rendered = render_args((Long(),), {"b": Long()}, 50, None)
        assert rendered == (("Long<" + "x" * 42 + "...",), (("b", "Long<" + "x" * 42 + "..."),))

    def test_nesting_recursion_and_big_ints_stay_short(self) -> None:
        """Self-containing lists, deep nesting and a 100,000-bit int each render in a few characters."""
        loop: list[object] = []
        loop.append(loop)
        assert bounded_repr(loop, 100) == "[[[[...]]]]"
        assert bounded_repr(2**100_000, 100) == "<int of 100001 bits>"
        assert bounded_repr([1, [2, [3, [4]]]], 100) == "[1, [2, [3, [...]]]]"

    def test_data_frames_are_shown_by_their_shape(self) -> None:
        """As the original module did: a data frame's repr takes milliseconds, its shape nothing."""
        frame = pd.DataFrame({"a": range(1_000_000), "b": 0.5})
        assert bounded_repr(frame, 500) == "<DataFrame with 1000000 rows and 2 columns>"

    def test_max_arg_length_zero_records_no_arguments(self) -> None:
        assert render_args((1, "secret"), {"k": 2}, 0, None) is None


class TestArgsFieldCap:
    def test_64_long_non_ascii_arguments_fit_the_cap(self) -> None:
        """Escaped JSON with its quotes doubled stays within MAX_ARGS_FIELD; every argument keeps a part."""
        text = '\U0001f600é"' * 5000
        rendered = render_args((text,) * 32, {f"k{i}": text for i in range(32)}, 5000, None)
        field = args_json(rendered)
        assert len(field) + field.count('"') <= MAX_ARGS_FIELD < 131_072
        parsed = json.loads(field)
        assert len(parsed["args"]) == 32 and len(parsed["kwargs"]) == 32
        assert all(a.startswith("'\U0001f600é") for a in parsed["args"])


def _general(args: tuple[object, ...], limit: int) -> Rendered:
    """What render_args gives positional arguments without a sanitizer, by the general path."""
    positional = [bounded_repr(value, limit) for value in args[:MAX_ARGS]]
    if len(args) > MAX_ARGS:
        positional.append(f"<{len(args) - MAX_ARGS} more>")
    return cap_args(positional, [])


PLAIN = st.one_of(
    st.integers(-(2**64), 2**64),
    st.sampled_from([2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 10**1300, True, False, None]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.text(min_size=490, max_size=510, alphabet="ab'\"\\\n\x00é\U0001f600"),
    st.sampled_from([b"bytes", (1, 2), [3], "x" * 3000]),  # not plain, or past the cap: the general path
)


class TestPlainArguments:
    @settings(max_examples=400, deadline=None)
    @given(st.lists(PLAIN, max_size=40).map(tuple), st.sampled_from([None, 1, 3, 5, 24, 100, 500, 4000]))
    def test_plain_arguments_render_as_the_general_path_renders_them(
        self, args: tuple[object, ...], max_length: int | None
    ) -> None:
        """Ints, floats, bools, None and strs take a shorter path (repr at once) that gives what the general
        path gives them: same texts, same cuts, the same field cap; any other argument, a long text or an
        int past 64 bits sends the call to the general path."""
        limit = DEFAULT_MAX_ARG_LENGTH if max_length is None else max_length
        plain = _plain_reprs(args, limit)
        general = _general(args, limit)
        if plain is not None:
            assert (plain, ()) == general
        assert render_args(args, {}, max_length, None) == general
