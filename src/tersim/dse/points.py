"""A design point: the base design with the varied fields replaced, validated like a file.

Also the keys a sweep uses: the point's config hash (what the store is keyed by) and the
mapping key (what a schedule can be reused for).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tersim._version import __version__
from tersim.config.enums import CompatMode, MappingSearch
from tersim.config.hardware import HardwareConfig, design_problems
from tersim.config.sweep import DESIGN_AXIS, NAMED_AXES, WORKLOAD_AXIS
from tersim.cost.iso import IsoMetric, iso_design
from tersim.dse.space import Params
from tersim.errors import DesignError


@dataclass(frozen=True)
class DesignPoint:
    """A point of the space: its params, the resolved design document, and either the
    validated design or why the document is not a valid design."""

    index: int  # position in the sweep's draw order
    params: Params
    doc: dict[str, Any]
    hardware: HardwareConfig | None
    invalid: str | None


@dataclass(frozen=True)
class SweepDesigns:
    """The designs a sweep's points start from: the base (``hardware:``), the designs the
    ``design`` axis names (by the name written in the sweep), and the design whose chip area
    every point is resized to (``equal_area:``), if any."""

    base: HardwareConfig
    by_name: dict[str, HardwareConfig]
    equal_area: HardwareConfig | None = None

    def start_of(self, params: Params) -> HardwareConfig:
        for key, value in params:
            if key == DESIGN_AXIS:
                return self.by_name[value]
        return self.base


def workload_of(params: Params) -> str | None:
    """The ``workload`` axis's value of a point (None: the sweep's ``workload:``)."""
    return next((str(v) for k, v in params if k == WORKLOAD_AXIS), None)


def _set(doc: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = doc
    for part in parts[:-1]:
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value
    if dotted == "dram.bw_gb_per_s":
        doc["dram"]["bw_bytes_per_cycle"] = None
    elif dotted == "dram.bw_bytes_per_cycle":
        doc["dram"]["bw_gb_per_s"] = None


def _scale_ports(doc: dict[str, Any], base: HardwareConfig) -> None:
    """Multiply buffer port bandwidths by the array's larger growth factor (if it grew)."""
    try:
        factor = max(doc["array"]["rows"] / base.array.rows, doc["array"]["cols"] / base.array.cols)
    except (TypeError, KeyError):
        return  # an invalid array: validation will say so
    if factor <= 1:
        return
    for buf in (doc["sram"].get(r) for r in ("input", "weight", "output", "unified")):
        if isinstance(buf, dict):
            for port in ("read_bw_bytes_per_cycle", "write_bw_bytes_per_cycle"):
                if isinstance(buf.get(port), int | float):
                    buf[port] = buf[port] * factor


def make_point(
    index: int,
    params: Params,
    base: HardwareConfig,
    base_doc: dict[str, Any],
    scale_sram_bandwidth: bool,
    equal_area: HardwareConfig | None = None,
) -> DesignPoint:
    """The design of ``params`` (``base_doc`` is ``base.model_dump(mode="json")``; the
    ``design`` axis has chosen ``base`` already). With ``equal_area``, the valid design's array
    is then resized to that design's chip area (:func:`tersim.cost.iso.iso_design`); a design
    that cannot be is an invalid point saying why."""
    fields = [(k, v) for k, v in params if k not in NAMED_AXES]
    doc = copy.deepcopy(base_doc)
    for key, value in fields:
        _set(doc, key, value)
    if scale_sram_bandwidth and not any(
        "bw_bytes_per_cycle" in k and k.startswith("sram.") for k, _ in fields
    ):
        _scale_ports(doc, base)
    doc["name"] = f"{base.name}[" + ",".join(f"{k}={v}" for k, v in fields) + "]"
    try:
        hw = HardwareConfig.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        return DesignPoint(
            index, params, doc, None, f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
        )
    problems = design_problems(hw)
    if problems:
        return DesignPoint(index, params, doc, None, f"{problems[0][0]}: {problems[0][1]}")
    if equal_area is not None:
        try:
            hw = iso_design(hw, equal_area, IsoMetric.AREA, name=hw.name).design
        except DesignError as exc:
            return DesignPoint(index, params, doc, None, f"equal_area: {exc}")
    return DesignPoint(index, params, hw.model_dump(mode="json"), hw, None)


def canonical_json(doc: Any) -> str:
    """Key-sorted compact JSON (non-finite numbers kept: this text is hashed, not parsed)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def config_hash(hardware_doc: dict[str, Any], context_doc: dict[str, Any]) -> str:
    """Identity of one simulation: the design (without its name and description), the
    workload, scenario and fidelity (``context_doc``), and the tersim version."""
    design = {k: v for k, v in hardware_doc.items() if k not in ("name", "description")}
    text = canonical_json({"design": design, "context": context_doc, "tersim": __version__})
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


# Fields the mapping never reads (checked by tests/unit/dse/test_reuse.py: changing any of
# them leaves map_workload's schedule unchanged). The DRAM bandwidth enters as the canonical
# bytes per cycle, so clock_hz and the unit it was given in drop out.
_NOT_MAPPING = {
    "array": ("clock_hz",),
    "dram": (
        "kind",
        "energy_pj_per_bit",
        "latency_cycles",
        "max_outstanding_tiles",
        "capacity_bytes",
        "channels",
        "bw_gb_per_s",
        "bw_bytes_per_cycle",
    ),
}
_NOT_MAPPING_TOP = ("name", "description", "tech")


def mapping_key(hw: HardwareConfig) -> str:
    """Equal for two designs whose mappings of the same workload are equal (a superset of the
    mapping-relevant fields: every field not listed as irrelevant is in the key). The searched
    mapping compares its points by the engine's cycles and the energy model's prices, so with
    it only the name and description drop out."""
    doc = hw.model_dump(mode="json")
    if hw.mapping.search is MappingSearch.SEARCHED and hw.array.compat is CompatMode.TERSIM:
        for top in ("name", "description"):
            doc.pop(top, None)
        for f in ("bw_gb_per_s", "bw_bytes_per_cycle"):
            doc["dram"].pop(f, None)
        doc["dram_bw_bytes_per_cycle"] = hw.dram_bw_bytes_per_cycle
        return canonical_json(doc)
    for top in _NOT_MAPPING_TOP:
        doc.pop(top, None)
    for section, fields in _NOT_MAPPING.items():
        for f in fields:
            doc[section].pop(f, None)
    doc["dram_bw_bytes_per_cycle"] = hw.dram_bw_bytes_per_cycle
    return canonical_json(doc)
