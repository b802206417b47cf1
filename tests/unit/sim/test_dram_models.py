"""DRAM timing models at the run level: per-channel interleaving against the aggregate pipe."""

from __future__ import annotations

from pathlib import Path

import pytest

from tersim.config import load_hardware, load_workload
from tersim.config.enums import DramModelKind
from tersim.hw.dram import dram_model
from tersim.run.pipeline import run
from tersim.workload.trace import Phase

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("kind", list(DramModelKind))
def test_every_dram_kind_has_a_model(kind: DramModelKind) -> None:
    assert dram_model(kind).kind is kind


def _run(model: DramModelKind, channels: int, phase: Phase):  # type: ignore[no-untyped-def]
    hw = load_hardware(ROOT / "hw_configs" / "ternary-128x128-7nm.yaml")
    hw = hw.model_copy(
        update={"dram": hw.dram.model_copy(update={"model": model, "channels": channels})}
    )
    spec = load_workload(ROOT / "workloads" / "bitnet-b1.58-700m.yaml")
    return run(hw, spec, phases=(phase,), prompt_tokens=32, gen_tokens=2, batch=1)


@pytest.mark.parametrize("phase", [Phase.PREFILL, Phase.DECODE])
def test_per_channel_is_never_faster_than_the_aggregate_pipe(phase: Phase) -> None:
    """With one DMA engine every transfer starts on idle channels, and b bursts over ch
    channels take ceil(ceil(b / ch) * burst * ch / bw) >= ceil(b * burst / bw) cycles; the
    engine's recurrence is monotone in transfer times, so the run is at least as long. Traffic
    does not depend on the timing model."""
    agg = _run(DramModelKind.AGGREGATE, 8, phase)
    per = _run(DramModelKind.PER_CHANNEL, 8, phase)
    assert per.result.total_cycles >= agg.result.total_cycles
    assert per.result.counts.dram_read_bytes == agg.result.counts.dram_read_bytes
    one = _run(DramModelKind.PER_CHANNEL, 1, phase)
    # one channel of whole bursts is the aggregate pipe (the mapping burst-rounds every load
    # except the vector unit's 16 KiB blocks, which are whole bursts too)
    assert one.result.total_cycles == agg.result.total_cycles
