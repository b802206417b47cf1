"""Metrics of a run record, flattened to named numbers: what the store keeps per phase and
what constraints and objectives refer to.

Rules:

* Row ``all`` holds every numeric leaf of the record (``RunRecord.to_json()``) outside the
  inputs (hardware, workload, formats, scenario), the timeline and the per-phase parts, under
  its dotted path: ``seconds``, ``total_cycles``, ``energy_pj.total``, ``energy_pj.dram``,
  ``energy_pj.by_layer.layer_0``, ``counts.pe.add``, ``utilization``, ... A field the record
  gains later (area, power) appears here with no change to this module.
* Derived, in row ``all``: ``dram_bytes`` (read + written), ``tokens`` (all phases),
  ``edp_pj_s`` (``energy_pj.total * seconds``), ``power_w`` (``energy_pj.total * 1e-12 /
  seconds``) and ``tokens_per_s_per_w`` (tokens per joule, which is tokens/s per watt).
* Row ``<phase>`` (``prefill``, ``decode``) holds the record's ``phases.<phase>`` numbers
  (``cycles``, ``seconds``, ``tokens``, ``tokens_per_s``) and ``layer_cycles.<phase>``.
* A point's flat metrics (for constraints and objectives) are row ``all`` plus each phase
  row's names prefixed with the phase: ``decode.tokens_per_s``, ``prefill.seconds``.
"""

from __future__ import annotations

import math
from typing import Any

INPUT_KEYS = ("hardware", "workload", "formats", "scenario", "timeline", "phases", "layer_cycles")
ALL = "all"


def _flatten(doc: Any, prefix: str, out: dict[str, float]) -> None:
    if isinstance(doc, bool):
        return
    if isinstance(doc, int | float):
        out[prefix] = doc
    elif isinstance(doc, dict):
        for k, v in doc.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)


def record_rows(record: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Phase name (``all``, ``prefill``, ``decode``) -> metric name -> value."""
    whole: dict[str, float] = {}
    for key, value in record.items():
        if key not in INPUT_KEYS:
            _flatten(value, key, whole)
    seconds = float(record["seconds"])
    energy_pj = float(record["energy_pj"]["total"])
    tokens = sum(float(p["tokens"]) for p in record["phases"].values())
    whole["dram_bytes"] = record["dram_read_bytes"] + record["dram_write_bytes"]
    whole["tokens"] = tokens
    whole["edp_pj_s"] = energy_pj * seconds
    whole["power_w"] = energy_pj * 1e-12 / seconds if seconds > 0 else 0.0
    whole["tokens_per_s_per_w"] = tokens / (energy_pj * 1e-12) if energy_pj > 0 else 0.0
    rows = {ALL: whole}
    for phase, summary in record["phases"].items():
        row: dict[str, float] = {}
        _flatten(summary, "", row)
        _flatten(record.get("layer_cycles", {}).get(phase, {}), "layer_cycles", row)
        rows[phase] = row
    for row in rows.values():
        for k, v in row.items():
            if not math.isfinite(v):
                raise ValueError(f"metric {k} is not finite ({v})")  # a model bug, not input
    return rows


def point_metrics(rows: dict[str, dict[str, float]]) -> dict[str, float]:
    """The flat metrics constraints and objectives read (see the module rules)."""
    out = dict(rows.get(ALL, {}))
    for phase, row in rows.items():
        if phase != ALL:
            out.update({f"{phase}.{k}": v for k, v in row.items()})
    return out
