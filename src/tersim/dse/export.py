"""Export a results store as a table: one line per (design point, workload, phase).

Columns: ``config_hash``, ``index``, ``workload``, ``phase``, ``status``, ``error``, the varied
fields (their dotted names), then every metric name found in the store (sorted; empty where a
row has no such metric), and with ``with_config`` the full resolved design as JSON. Lines are
in draw order. CSV uses the standard library; Parquet needs pyarrow (``tersim[parquet]``).
The file is written beside its destination and moved into place, so a failure leaves no
half-written file and an existing file untouched.
"""

from __future__ import annotations

import csv
import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Any

from tersim.dse.store import ResultStore
from tersim.errors import TersimError


class TableFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


def table_rows(
    store: ResultStore, with_config: bool = False
) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows) of the store (see the module rules)."""
    params: list[str] = []
    metrics: set[str] = set()
    rows: list[dict[str, Any]] = []
    for p in store.points():
        for name in p.params:
            if name not in params:
                params.append(name)
        base = {
            "config_hash": p.config_hash,
            "index": p.index,
            "workload": p.workload,
            "status": p.status.value,
            "error": p.error,
            **p.params,
        }
        if with_config:
            base["config"] = json.dumps(p.config, sort_keys=True)
        phases = p.rows or {"": {}}
        for phase, values in phases.items():
            metrics.update(values)
            rows.append({**base, "phase": phase or None, **values})
    columns = ["config_hash", "index", "workload", "phase", "status", "error", *params]
    columns += sorted(metrics)
    if with_config:
        columns.append("config")
    return columns, rows


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})


def _write_parquet(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise TersimError(
            "--parquet needs pyarrow (pip install 'tersim[parquet]'), or export --csv"
        ) from None
    table = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows])
    pq.write_table(table, path)


def export_store(
    store: ResultStore, fmt: TableFormat, output: Path, with_config: bool = False
) -> int:
    """Write the store's table to ``output``; return the number of lines."""
    columns, rows = table_rows(store, with_config)
    if output.is_dir():
        raise TersimError(
            f"{output}: is a folder (expected a file name, e.g. {output}/sweep.{fmt.value})"
        )
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        if fmt is TableFormat.CSV:
            _write_csv(tmp, columns, rows)
        else:
            _write_parquet(tmp, columns, rows)
        tmp.replace(output)
    except OSError as exc:
        raise TersimError(f"{output}: cannot write ({exc.strerror})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return len(rows)
