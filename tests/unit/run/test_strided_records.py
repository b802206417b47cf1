"""Runs whose repeated layers are held as one strided record (a pass's copied layers: one
segment reference, one placed segment, one span block and one placement per lane, each with a
multiplicity) against the records made by the code that held every layer of every pass
(commit 5e635a1, before the strided records; first made at 105a31e and remade at 5e635a1
when the mapping space gained its load placement, which changed only the records' mapping
section), kept as data.

``tests/data/records/strided_records.json.gz`` holds, per case: the run's JSON record, every
op's span, the per-op rows, and every lane's exact busy intervals in three windows (what the
report's timelines draw), as that code made them (:func:`_record`, run there). The cases cover
the fast and the simpy engine, prefill and decode alone, a design whose DRAM keeps several
channels (``dram.ch<c>`` lanes), the heterogeneous design, runs whose lanes keep their
intervals and runs with too many for that (histogram only).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tersim.config import load_hardware
from tersim.config.hardware import HardwareConfig
from tersim.config.workload import Architecture, ModelSpec
from tersim.report.data import clipped
from tersim.run.pipeline import run
from tersim.run.rows import op_rows
from tersim.sim import Fidelity
from tersim.workload.ops import Phase

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "records" / "strided_records.json.gz"


def _spec(layers: int, parallel: bool = False) -> ModelSpec:
    if parallel:
        return ModelSpec(
            name="parallel",
            architecture=Architecture(
                hidden=64, layers=layers, heads=4, kv_heads=1, ffn=96, ffn_type="gelu",
                vocab=50, max_context=256, parallel_attention=True, norm="layernorm",
            ),
        )  # fmt: skip
    return ModelSpec(
        name="small",
        architecture=Architecture(
            hidden=32, layers=layers, heads=4, kv_heads=2, ffn=48, ffn_type="swiglu",
            vocab=100, max_context=256,
        ),
    )  # fmt: skip


def _hw(name: str) -> HardwareConfig:
    path = ROOT / "hw_configs" / f"{name}.yaml"
    if not path.exists():
        path = ROOT / "tests" / "data" / "designs" / f"{name}.yaml"
    return load_hardware(path)


BOTH = (Phase.PREFILL, Phase.DECODE)
# name: design, layers, parallel attention, phases, prompt, generated, batch, fidelity
CASES: dict[str, tuple[str, int, bool, tuple[Phase, ...], int, int, int, Fidelity]] = {
    "ternary": ("ternary-128x128-7nm", 5, False, BOTH, 40, 5, 1, Fidelity.FAST),
    "ternary-batch2": ("ternary-128x128-7nm", 4, False, BOTH, 24, 4, 2, Fidelity.FAST),
    "fp16-parallel": ("fp16-128x128-7nm", 4, True, BOTH, 20, 4, 1, Fidelity.FAST),
    "hetero": ("ternary-hetero-7nm", 5, False, BOTH, 24, 3, 2, Fidelity.FAST),
    "hetero-parallel": ("ternary-hetero-7nm", 4, True, BOTH, 12, 3, 1, Fidelity.FAST),
    "per-channel": ("ternary-128x128-7nm-per-channel", 5, False, BOTH, 24, 4, 1, Fidelity.FAST),
    "per-channel-decode": (
        "ternary-128x128-7nm-per-channel", 6, False, (Phase.DECODE,), 16, 6, 1, Fidelity.FAST,
    ),
    "decode": ("fp16-128x128-7nm", 6, False, (Phase.DECODE,), 16, 8, 1, Fidelity.FAST),
    "prefill": ("ternary-128x128-7nm", 7, False, (Phase.PREFILL,), 64, 0, 1, Fidelity.FAST),
    "tiny": ("ternary-8x8-tiny", 4, False, BOTH, 64, 2, 1, Fidelity.FAST),
    "many-intervals": ("ternary-128x128-7nm", 8, False, BOTH, 16, 40, 1, Fidelity.FAST),
    "histogram-only": ("fp16-128x128-7nm", 10, False, BOTH, 32, 64, 1, Fidelity.FAST),
    "simpy": ("ternary-8x8-tiny", 4, False, BOTH, 12, 3, 1, Fidelity.RUN),
    "simpy-hetero": ("ternary-hetero-7nm", 5, False, BOTH, 16, 3, 1, Fidelity.RUN),
}  # fmt: skip


def _record(name: str) -> dict[str, Any]:
    """What the test compares for case ``name`` (JSON-ready)."""
    design, layers, parallel, phases, prompt, gen, batch, fid = CASES[name]
    r = run(_hw(design), _spec(layers, parallel), phases, prompt, gen, batch, fidelity=fid)
    res = r.result
    total = res.total_cycles
    spans = json.dumps([[s.start_cycle, s.end_cycle] for s in res.spans])
    first = res.spans[len(res.spans) // 3]
    whole = {u: clipped(t.groups_within(0, total), 0, total) for u, t in res.timelines.items()}
    windows = [(total // 3, total // 2), (first.start_cycle, first.end_cycle + 1)]
    lanes = {
        f"{lo}:{hi}": {
            u: clipped(t.groups_within(lo, hi), lo, hi) for u, t in sorted(res.timelines.items())
        }
        for lo, hi in windows
    }
    rows = json.dumps(op_rows(r), default=str, sort_keys=True)
    return {
        "record": r.to_json(),
        "spans_sha256": _sha(spans),
        "rows_sha256": _sha(rows),
        "whole_lanes_sha256": _sha(json.dumps(whole, sort_keys=True)),
        "lanes": lanes,
    }


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _canon(x: object) -> object:
    return json.loads(json.dumps(x, sort_keys=True))


def _golden() -> dict[str, Any]:
    with gzip.open(DATA, "rt") as f:
        data: dict[str, Any] = json.load(f)
    return data


@pytest.mark.parametrize("name", list(CASES))
def test_the_strided_run_makes_the_record_of_the_layer_by_layer_run(name: str) -> None:
    want = _golden()[name]
    got = _canon(_record(name))
    assert isinstance(got, dict)
    assert got["record"] == want["record"]
    for k in ("spans_sha256", "rows_sha256", "whole_lanes_sha256"):
        assert got[k] == want[k], k
    assert got["lanes"] == want["lanes"]
