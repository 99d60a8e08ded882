"""The Parquet dataset a real run writes reads as the README says: one table, timestamps in UTC.

The README promises pandas (``pd.read_parquet(dir)``), pyarrow (``pyarrow.dataset.dataset(dir)``), polars
(``pl.read_parquet(f"{dir}/*.parquet")``) and DuckDB (``SELECT * FROM 'dir/*.parquet'``). polars and
DuckDB are not installed here: their glob recipe is checked by reading the files it matches one by one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pa_ds
import pyarrow.parquet as pq
from helpers import REAL_CALLS, json_lines

from mpmon import schema

UTC_MICROS = pa.timestamp("us", tz="UTC")


def _call_lines(log_dir: Path) -> dict[str, dict[str, object]]:
    """timing.log's call lines by call id: the same calls, written as JSON by the same collector."""
    lines = json_lines(log_dir / schema.TIMING_LOG)
    return {str(x["call_id"]): x for x in lines if x.get("event") == schema.EVENT_CALL}


def test_pandas_reads_one_table_with_utc_times(real_parquet_run: Path) -> None:
    """pd.read_parquet(dir): every call once, the schema's columns, times timezone-aware UTC in us."""
    df = pd.read_parquet(real_parquet_run / schema.RESULTS_PARQUET)
    assert len(df) == REAL_CALLS and df["call_id"].is_unique
    assert list(df.columns) == list(schema.COLUMN_NAMES)
    for name in schema.TIMESTAMP_COLUMNS:
        assert isinstance(df[name].dtype, pd.DatetimeTZDtype), name
        assert str(df[name].dt.tz) == "UTC" and df[name].dt.unit == "us", name


def test_pyarrow_dataset_reads_one_table_with_the_schema(real_parquet_run: Path) -> None:
    """pyarrow.dataset.dataset(dir), no options: one table whose schema is mpmon.schema's."""
    table = pa_ds.dataset(real_parquet_run / schema.RESULTS_PARQUET).to_table()
    assert table.num_rows == REAL_CALLS
    assert table.schema.equals(schema.arrow_schema())
    assert all(table.schema.field(name).type == UTC_MICROS for name in schema.TIMESTAMP_COLUMNS)


def test_the_glob_recipe_matches_every_part(real_parquet_run: Path) -> None:
    """dir/*.parquet (polars, DuckDB) matches complete part files only, and together they hold every row."""
    directory = real_parquet_run / schema.RESULTS_PARQUET
    parts = sorted(directory.glob("*.parquet"))
    assert parts and {p.name for p in directory.rglob("*") if p.is_file()} == {p.name for p in parts}
    table = pa.concat_tables([pq.read_table(p) for p in parts])
    assert table.num_rows == REAL_CALLS
    assert table.schema.equals(schema.arrow_schema())


def test_the_readers_agree_with_timing_log(real_parquet_run: Path) -> None:
    """pandas and pyarrow give the same rows, and each start and end time is the instant timing.log
    gives as ISO 8601 text."""
    by_pandas = pd.read_parquet(real_parquet_run / schema.RESULTS_PARQUET).set_index("call_id").sort_index()
    by_arrow = pa_ds.dataset(real_parquet_run / schema.RESULTS_PARQUET).to_table().to_pandas()
    pd.testing.assert_frame_equal(by_pandas, by_arrow.set_index("call_id").sort_index())
    lines = _call_lines(real_parquet_run)
    assert set(lines) == set(by_pandas.index)
    for name in schema.TIMESTAMP_COLUMNS:
        text = pd.Series({k: v[name] for k, v in lines.items()}).loc[by_pandas.index]
        assert (pd.to_datetime(text, format="ISO8601") == by_pandas[name]).all(), name
