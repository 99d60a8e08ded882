"""The collector's fast paths write what its reference functions write, whichever path a round takes.

A round of fewer than `measures.ROW_BY_ROW` rows is formatted row by row with rows.py's functions (the
spill files' own), a larger one by columns (Arrow kernels, numpy over the bytes); statm lines of one
width are read as a byte matrix. Each path must give the same bytes for the same records.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpmon import probe
from mpmon.collector import measures
from mpmon.collector.arguments import args_column
from mpmon.rows import args_json

from .test_golden_files import FILES, GOLDEN, record_bytes, write_run


@pytest.mark.parametrize("row_by_row", [0, 1 << 30], ids=["every-round-by-columns", "every-round-row-by-row"])
def test_both_paths_write_the_golden_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, row_by_row: int
) -> None:
    """Every golden round (quotes, backslashes, control characters, non-ASCII, lone surrogates, huge and
    empty arguments, keyword arguments, errors, nested calls) written by columns, then row by row, gives
    the golden files byte for byte (the default sends most golden rounds, all small, row by row)."""
    monkeypatch.setattr(measures, "ROW_BY_ROW", row_by_row)
    write_run(tmp_path, "csv")
    for name in FILES:
        assert record_bytes(tmp_path, name) == (GOLDEN / name).read_bytes(), name


STATM_BYTES = st.sampled_from([b"0", b"1", b"7", b"9", b" ", b"\n", b"\t", b"x", b"-", b"+"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(STATM_BYTES, max_size=12).map(b"".join), min_size=1, max_size=6))
def test_statm_pages_reads_what_rss_of_reads(lines: list[bytes]) -> None:
    """Whatever the bytes, the matrix reading either declines (None: the old paths read them) or gives
    the number probe.rss_of reads from each line."""
    pages = measures.statm_pages(tuple(lines))
    if pages is not None:
        assert [int(p) * probe.PAGE_SIZE for p in pages] == [probe.rss_of(line) for line in lines]


def test_statm_lines_of_one_width_are_read_as_a_matrix() -> None:
    """The usual round (lines of one process, the same width) takes the matrix path, and a round whose
    widths differ takes the old ones, with the same figures."""
    same = tuple(f"{123456 + i} {2345 + i} 456 7 0 890 0\n".encode() for i in range(100))
    mixed = (*same, b"1 2 3 4 5 6 7\n")
    assert measures.statm_pages(same) is not None and measures.statm_pages(mixed) is None
    for raw in (same, mixed):
        assert measures.rss_bytes(raw + raw).to_pylist() == [probe.rss_of(r) for r in raw + raw]


TEXTS = st.text(alphabet=st.sampled_from(list("a1 \"\\\n\x00\x7f~[]é日🎉'")), max_size=6)
ARGS = st.one_of(
    st.none(),
    st.tuples(st.lists(TEXTS, max_size=3).map(tuple), st.just(())),
    st.tuples(
        st.lists(TEXTS, max_size=2).map(tuple), st.lists(st.tuples(TEXTS, TEXTS), max_size=2).map(tuple)
    ),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(ARGS, min_size=40, max_size=80))
def test_the_arguments_column_by_columns_is_args_json_row_by_row(args: list[object]) -> None:
    """A round large enough for Arrow (texts JSON escapes or not, keyword arguments, none at all) gets,
    row for row, the text rows.args_json() gives (the spill files' and the small rounds' function)."""
    made = args_column(tuple(args))
    assert (made if isinstance(made, list) else made.to_pylist()) == [args_json(a) for a in args]
