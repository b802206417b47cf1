"""Write tables of rows (``tersim.run.rows``) as CSV or Parquet files, one file per table.

Rules: every file is written whole or not at all (``tersim.files.write_atomic``); the
folder is created if needed; a table's columns are the keys of its first row, in order (every
row of a table has the same keys); ``None`` is an empty CSV cell and a Parquet null. Parquet
needs ``pyarrow`` (``pip install 'tersim[pandas]'``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from tersim.errors import TersimError
from tersim.files import write_atomic


class TableFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


def write_tables(
    directory: str | Path,
    tables: Mapping[str, Sequence[Mapping[str, Any]]],
    fmt: TableFormat,
) -> list[Path]:
    """Write ``tables`` (name -> rows) to ``directory/NAME.csv`` (or ``.parquet``); return the
    paths written. Empty tables are skipped.

    Raises:
        TersimError: the folder cannot be created or a file cannot be written, or Parquet was
            asked for without pyarrow.
    """
    out_dir = Path(directory)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TersimError(f"{out_dir}: cannot create the folder ({exc.strerror})") from None
    if fmt is TableFormat.PARQUET:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise TersimError(
                "--parquet needs pyarrow (pip install 'tersim[pandas]'), or use --csv"
            ) from None
    written = []
    for name, rows in tables.items():
        if not rows:
            continue
        path = out_dir / f"{name}.{fmt.value}"
        columns = list(rows[0])
        data = csv_text(columns, rows) if fmt is TableFormat.CSV else parquet_bytes(columns, rows)
        write_atomic(path, data)
        written.append(path)
    return written


def csv_text(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    """CSV of ``rows`` under ``columns`` (a missing key or ``None`` is an empty cell)."""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(columns), restval="")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def parquet_bytes(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> bytes:
    """A Parquet file of ``rows`` under ``columns`` (missing keys are nulls); needs pyarrow."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows])
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())
