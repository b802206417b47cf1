"""BitNet b1.58's energy claim, reproduced from simulated counts, and what it leaves out.

The paper (arXiv 2402.17764, section 3) prices matrix multiplication only: the FP16 baseline
does one FP16 multiply and one FP16 add per weight and token, the ternary model one INT8 add.
Here the counts come from simulating the BitNet workload on the ternary design and its FP16
counterpart (same shapes) on the FP16 MAC design at the same node; the ratios are computed from
those counts and the node's energy table, never from a constant:

* ``paper_ratio``: FP16 (mul + add) / ternary (INT8 add per weight slot, zeros included);
* ``zero_skip_ratio``: as above, but zero weights cost only a zero check (the trace's zero
  fraction: measured when the trace is measured, else the absmean value for normal weights);
* ``realistic_accumulator_ratio``: the ternary adds at the width a long dot product needs
  (INT32; INT16 also reported): an INT8 accumulator overflows after a couple of terms;
* ``whole_chip_ratio_prefill`` / ``_decode``: total energy, SRAM, DRAM, vector unit and leakage
  included, for a prefill-only and a decode-only run;
* ``model_size_sweep``: whole-chip energy per prompt token for growing models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tersim.config.hardware import HardwareConfig
from tersim.config.workload import ModelSpec
from tersim.hw.counts import PECounts
from tersim.run.pipeline import RunRecord, run
from tersim.tech.tables import EnergyTable, energy_table
from tersim.workload.trace import Phase

SWEEP_MODELS = (
    "bitnet-b1.58-700m",
    "bitnet-b1.58-1.3b",
    "bitnet-b1.58-3b",
    "bitnet-b1.58-3.9b",
    "llama2-7b",
    "llama2-13b",
    "llama2-70b",
)


@dataclass(frozen=True)
class SweepPoint:
    model: str
    params: int
    ternary_energy_pj: float
    fp16_energy_pj: float
    tokens: int

    @property
    def ratio(self) -> float:
        return self.fp16_energy_pj / self.ternary_energy_pj


@dataclass(frozen=True)
class ClaimReport:
    node: str
    workload: str
    table: EnergyTable
    fp16_linear: PECounts
    ternary_linear: PECounts
    prefill: tuple[RunRecord, RunRecord]  # (ternary, fp16)
    decode: tuple[RunRecord, RunRecord]
    sweep: tuple[SweepPoint, ...]

    # -- the ratios -----------------------------------------------------------------------------
    @property
    def fp16_matmul_pj(self) -> float:
        t, c = self.table, self.fp16_linear
        return c.mul * t.fp16_mul_pj.value + c.add * t.fp16_add_pj.value

    def ternary_matmul_pj(self, add_pj: float, skip_pj: float) -> float:
        c = self.ternary_linear
        return (c.add + c.sub) * add_pj + c.skip * skip_pj

    @property
    def paper_ratio(self) -> float:
        a = self.table.int8_add_pj.value
        return self.fp16_matmul_pj / self.ternary_matmul_pj(a, a)

    @property
    def zero_skip_ratio(self) -> float:
        return self.fp16_matmul_pj / self.ternary_matmul_pj(
            self.table.int8_add_pj.value, self.table.zero_check_pj.value
        )

    def accumulator_ratio(self, bits: int) -> float:
        e = (self.table.int16_add_pj if bits <= 16 else self.table.int32_add_pj).value
        return self.fp16_matmul_pj / self.ternary_matmul_pj(e, e)

    @staticmethod
    def _whole(pair: tuple[RunRecord, RunRecord]) -> float:
        return pair[1].energy.total_pj / pair[0].energy.total_pj

    def to_json(self) -> dict[str, Any]:
        t = self.table
        zero = self.ternary_linear.skip / max(
            1, self.ternary_linear.add + self.ternary_linear.sub + self.ternary_linear.skip
        )
        return {
            "node": self.node,
            "workload": self.workload,
            "paper_ratio": self.paper_ratio,
            "zero_skip_ratio": self.zero_skip_ratio,
            "realistic_accumulator_ratio": self.accumulator_ratio(32),
            "int16_accumulator_ratio": self.accumulator_ratio(16),
            "whole_chip_ratio_prefill": self._whole(self.prefill),
            "whole_chip_ratio_decode": self._whole(self.decode),
            "weight_zero_fraction": zero,
            "counts": {
                "fp16_linear": vars(self.fp16_linear),
                "ternary_linear": vars(self.ternary_linear),
            },
            "energy_per_op_pj": {
                name: {"value": getattr(t, name).value, "source": getattr(t, name).source}
                for name in (
                    "fp16_mul_pj",
                    "fp16_add_pj",
                    "int8_add_pj",
                    "int16_add_pj",
                    "int32_add_pj",
                    "zero_check_pj",
                )
            },
            "matmul_energy_pj": {
                "fp16": self.fp16_matmul_pj,
                "ternary_int8": self.ternary_matmul_pj(t.int8_add_pj.value, t.int8_add_pj.value),
            },
            "whole_chip_energy_pj": {
                "prefill": {
                    "ternary": self.prefill[0].energy.to_json(),
                    "fp16": self.prefill[1].energy.to_json(),
                },
                "decode": {
                    "ternary": self.decode[0].energy.to_json(),
                    "fp16": self.decode[1].energy.to_json(),
                },
            },
            "model_size_sweep": [
                {
                    "model": p.model,
                    "params": p.params,
                    "tokens": p.tokens,
                    "ternary_pj_per_token": p.ternary_energy_pj / p.tokens,
                    "fp16_pj_per_token": p.fp16_energy_pj / p.tokens,
                    "ratio": p.ratio,
                }
                for p in self.sweep
            ],
        }


def _linear(rec: RunRecord) -> PECounts:
    return rec.result.counts.pe_by_kind.get("linear", PECounts())


def _params(spec: ModelSpec) -> int:
    from tersim.workload.footprint import linear_shapes

    a = spec.architecture
    emb = a.vocab * a.hidden * (1 if a.tied_embeddings else 2)
    return sum(k * n for k, n in linear_shapes(spec)) + emb


def make_claim(
    ternary_hw: HardwareConfig,
    fp16_hw: HardwareConfig,
    spec: ModelSpec,
    prompt_tokens: int = 512,
    gen_tokens: int = 128,
    sweep_specs: tuple[ModelSpec, ...] = (),
    sweep_prompt_tokens: int = 512,
) -> ClaimReport:
    """Run everything the claim needs and return the report (no printing)."""
    node = ternary_hw.tech.node
    pre = tuple(
        run(hw, spec, phases=(Phase.PREFILL,), prompt_tokens=prompt_tokens, gen_tokens=0)
        for hw in (ternary_hw, fp16_hw)
    )
    dec = tuple(
        run(hw, spec, phases=(Phase.DECODE,), prompt_tokens=prompt_tokens, gen_tokens=gen_tokens)
        for hw in (ternary_hw, fp16_hw)
    )
    sweep = []
    for s in sweep_specs:
        tern, fp = (
            run(hw, s, phases=(Phase.PREFILL,), prompt_tokens=sweep_prompt_tokens, gen_tokens=0)
            for hw in (ternary_hw, fp16_hw)
        )
        sweep.append(
            SweepPoint(
                s.name, _params(s), tern.energy.total_pj, fp.energy.total_pj, sweep_prompt_tokens
            )
        )
    return ClaimReport(
        node=node,
        workload=spec.name,
        # the ternary design's node table with its YAML overrides, as its energy used
        table=energy_table("7nm" if node == "custom" else node).with_overrides(
            dict(ternary_hw.tech.overrides_pj)
        ),
        fp16_linear=_linear(pre[1]),
        ternary_linear=_linear(pre[0]),
        prefill=(pre[0], pre[1]),
        decode=(dec[0], dec[1]),
        sweep=tuple(sweep),
    )
