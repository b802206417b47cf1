"""Export a results store as a table: one line per (design point, workload, phase).

Columns: ``config_hash``, ``index``, ``workload``, ``phase``, ``status``, ``error``, the varied
fields (their dotted names), then every metric name found in the store (sorted; empty where a
row has no such metric), and with ``with_config`` the full resolved design as JSON. Lines are
in draw order. CSV uses the standard library; Parquet needs pyarrow (``tersim[parquet]``).
The file is written atomically (``tersim.files.write_atomic``): a failure leaves no
half-written or temporary file and an existing file untouched.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

from tersim.config.sweep import WORKLOAD_AXIS
from tersim.dse.store import ResultStore
from tersim.errors import TersimError
from tersim.files import write_atomic
from tersim.run.export import csv_text, parquet_bytes


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
            if name not in params and name != WORKLOAD_AXIS:  # the workload column says it
                params.append(name)
        base = {
            "config_hash": p.config_hash,
            "index": p.index,
            "workload": p.workload,
            "status": p.status.value,
            "error": p.error,
            **{k: v for k, v in p.params.items() if k != WORKLOAD_AXIS},
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


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise TersimError(
            "--parquet needs pyarrow (pip install 'tersim[parquet]'), or export --csv"
        ) from None


def export_store(
    store: ResultStore, fmt: TableFormat, output: Path, with_config: bool = False
) -> int:
    """Write the store's table to ``output``; return the number of lines."""
    columns, rows = table_rows(store, with_config)
    if output.is_dir():
        raise TersimError(
            f"{output}: is a folder (expected a file name, e.g. {output}/sweep.{fmt.value})"
        )
    if fmt is TableFormat.CSV:
        data: str | bytes = csv_text(columns, rows)
    else:
        _require_pyarrow()
        data = parquet_bytes(columns, rows)
    write_atomic(output, data)
    return len(rows)
