"""The results store: one SQLite file per sweep (default ``reports/<sweep-name>.sqlite``).

Tables:

* ``meta(key, value)``: ``schema_version``, ``sweep_name``, ``sweep`` (the sweep file as JSON,
  latest run), ``tersim_version``.
* ``points``: one row per design point, keyed by its config hash (``tersim.dse.points``):
  ``idx`` (draw order), ``params`` and ``config`` (the full resolved design) as JSON,
  ``workload``, ``status`` (ok, failed, dropped), ``error`` (why it failed or was dropped),
  ``elapsed_s``.
* ``results``: one row per (config hash, workload, phase) with the phase's metrics as JSON
  (``tersim.dse.metrics``; phase ``all`` is the whole run).

Rules: only the sweep's main process writes; each finished point is one transaction (its
point row and all its result rows, or nothing), so a ``kill -9`` at any moment leaves every
finished point complete and no half point. Inserts of an existing config hash are ignored:
nothing is stored twice. The journal is SQLite's write-ahead log, which survives a killed
writer and lets a report read while a sweep writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tersim._version import __version__
from tersim.dse.evaluate import PointOutcome, Status
from tersim.errors import TersimError

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    config_hash TEXT PRIMARY KEY,
    idx INTEGER NOT NULL,
    params TEXT NOT NULL,
    config TEXT NOT NULL,
    workload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'dropped')),
    error TEXT,
    elapsed_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    config_hash TEXT NOT NULL REFERENCES points (config_hash),
    workload TEXT NOT NULL,
    phase TEXT NOT NULL,
    metrics TEXT NOT NULL,
    PRIMARY KEY (config_hash, workload, phase)
);
"""


@dataclass(frozen=True)
class StoredPoint:
    config_hash: str
    index: int
    params: dict[str, Any]
    config: dict[str, Any]
    workload: str
    status: Status
    error: str | None
    rows: dict[str, dict[str, float]]  # phase -> metrics (empty unless ok)


def _json(doc: Any, sort_keys: bool = True) -> str:
    """Standard JSON (no NaN or Infinity); params and the sweep keep their file order."""
    return json.dumps(doc, sort_keys=sort_keys, allow_nan=False)


class ResultStore:
    """A sweep's results file. Use as a context manager; ``open`` creates it if missing."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn

    @classmethod
    def open(cls, path: Path, sweep_name: str | None = None, create: bool = True) -> ResultStore:
        """Open (or create) the store at ``path``; with ``sweep_name``, refuse a store that
        belongs to another sweep."""
        if path.is_dir():
            raise TersimError(
                f"{path}: is a folder (expected a results file, e.g. {path}/s.sqlite)"
            )
        if not path.exists():
            if not create:
                raise TersimError(f"{path}: no such results file")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise TersimError(
                    f"{path.parent}: cannot create the folder ({exc.strerror})"
                ) from None
        elif not _is_sqlite(path):
            raise TersimError(
                f"{path}: not a tersim results store (expected a SQLite file written by "
                "tersim sweep; give another --store path)"
            )
        try:
            conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            store = cls(path, conn)
            store._check_meta(sweep_name)
        except sqlite3.DatabaseError as exc:
            raise TersimError(f"{path}: cannot use the results store ({exc})") from None
        return store

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def _check_meta(self, sweep_name: str | None) -> None:
        meta = self.meta()
        version = meta.get("schema_version")
        if version is not None and version != str(SCHEMA_VERSION):
            raise TersimError(
                f"{self.path}: results store of schema {version} (expected {SCHEMA_VERSION}; "
                "use a new --store path)"
            )
        if sweep_name is None:
            return
        owner = meta.get("sweep_name")
        if owner is not None and owner != sweep_name:
            raise TersimError(
                f"{self.path}: holds the results of sweep '{owner}', not '{sweep_name}' "
                "(expected that sweep's store; give another --store path)"
            )
        if owner is None:
            self._set_meta(
                {
                    "schema_version": str(SCHEMA_VERSION),
                    "sweep_name": sweep_name,
                    "tersim_version": __version__,
                }
            )

    def _set_meta(self, items: dict[str, str]) -> None:
        with self._transaction():
            self._conn.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", items.items()
            )

    def set_sweep(self, sweep_doc: dict[str, Any]) -> None:
        self._set_meta({"sweep": _json(sweep_doc, sort_keys=False)})

    def meta(self) -> dict[str, str]:
        return dict(self._conn.execute("SELECT key, value FROM meta").fetchall())

    def sweep_doc(self) -> dict[str, Any] | None:
        text = self.meta().get("sweep")
        return None if text is None else json.loads(text)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    def known(self) -> dict[str, Status]:
        """Config hash -> status of every stored point."""
        rows = self._conn.execute("SELECT config_hash, status FROM points")
        return {h: Status(s) for h, s in rows}

    def add(
        self, outcomes: list[PointOutcome], configs: dict[str, dict[str, Any]], workload: str
    ) -> None:
        """Store ``outcomes`` in one transaction (``configs``: config hash -> design doc)."""
        with self._transaction():
            for o in outcomes:
                cur = self._conn.execute(
                    "INSERT OR IGNORE INTO points (config_hash, idx, params, config, workload, "
                    "status, error, elapsed_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        o.config_hash,
                        o.index,
                        _json(dict(o.params), sort_keys=False),
                        _json(configs[o.config_hash]),
                        workload,
                        o.status.value,
                        o.error,
                        o.elapsed_s,
                    ),
                )
                if cur.rowcount == 0:
                    continue  # stored already: never twice
                self._conn.executemany(
                    "INSERT INTO results (config_hash, workload, phase, metrics) "
                    "VALUES (?, ?, ?, ?)",
                    [(o.config_hash, workload, ph, _json(m)) for ph, m in o.rows.items()],
                )

    def forget_failed(self) -> int:
        """Delete failed points (so they run again); return how many."""
        with self._transaction():
            cur = self._conn.execute("DELETE FROM points WHERE status = 'failed'")
        return cur.rowcount

    def counts(self) -> dict[str, int]:
        rows = self._conn.execute("SELECT status, COUNT(*) FROM points GROUP BY status")
        out = {s.value: 0 for s in Status}
        out.update(dict(rows.fetchall()))
        return out

    def points(self, hashes: set[str] | None = None) -> Iterator[StoredPoint]:
        """Stored points in draw order (then hash), each with its result rows."""
        results: dict[str, dict[str, dict[str, float]]] = {}
        for h, phase, metrics in self._conn.execute(
            "SELECT config_hash, phase, metrics FROM results ORDER BY config_hash, phase"
        ):
            if hashes is None or h in hashes:
                results.setdefault(h, {})[phase] = json.loads(metrics)
        for h, idx, params, config, workload, status, error in self._conn.execute(
            "SELECT config_hash, idx, params, config, workload, status, error FROM points "
            "ORDER BY idx, config_hash"
        ):
            if hashes is not None and h not in hashes:
                continue
            yield _stored((h, idx, params, config, workload, status, error), results.get(h, {}))

    def get(self, config_hash: str) -> StoredPoint | None:
        row = self._conn.execute(
            "SELECT config_hash, idx, params, config, workload, status, error FROM points "
            "WHERE config_hash = ?",
            (config_hash,),
        ).fetchone()
        if row is None:
            return None
        rows = {
            phase: json.loads(m)
            for phase, m in self._conn.execute(
                "SELECT phase, metrics FROM results WHERE config_hash = ?", (config_hash,)
            )
        }
        return _stored(row, rows)

    def result_rows(self) -> list[tuple[str, str, str, str]]:
        """Every (config hash, workload, phase, metrics JSON), sorted (for comparisons)."""
        return sorted(
            self._conn.execute("SELECT config_hash, workload, phase, metrics FROM results")
        )


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _stored(row: tuple[Any, ...], rows: dict[str, dict[str, float]]) -> StoredPoint:
    h, idx, params, config, workload, status, error = row
    return StoredPoint(
        h, idx, json.loads(params), json.loads(config), workload, Status(status), error, rows
    )


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise TersimError(f"{path}: cannot read ({exc.strerror})") from None
    return head == b"SQLite format 3\x00" or head == b""
