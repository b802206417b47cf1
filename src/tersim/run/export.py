"""Write tables of rows (``tersim.run.rows``) as CSV or Parquet files, one file per table.

Rules: every file is written whole or not at all (a temporary file renamed into place); the
folder is created if needed; a table's columns are the keys of its first row, in order (every
row of a table has the same keys); ``None`` is an empty CSV cell and a Parquet null. Parquet
needs ``pyarrow`` (``pip install 'tersim[pandas]'``).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from tersim.errors import TersimError


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
        tmp = path.with_name(path.name + ".tmp")
        try:
            if fmt is TableFormat.CSV:
                _write_csv(tmp, rows)
            else:
                _write_parquet(tmp, rows)
            tmp.replace(path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise TersimError(f"{path}: cannot write ({exc.strerror})") from None
        written.append(path)
    return written


def _write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})


def _write_parquet(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = list(rows[0])
    table = pa.Table.from_pydict({c: [r[c] for r in rows] for c in columns})
    pq.write_table(table, path)
