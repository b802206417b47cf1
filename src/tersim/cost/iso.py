"""Equal-area and equal-power designs: a design's array resized to a baseline's area or power.

Rule (stated so it can be checked by hand): the target is the baseline's total chip area
(:func:`tersim.cost.area.chip_area`, DRAM interface included) or its peak power
(:func:`tersim.cost.power.peak_power`). The design keeps everything but its array: buffer sizes,
vector unit, DRAM; its buffer ports widen with the array (:func:`tersim.config.hardware.resized`).
The array stays square-ish: the largest square n x n whose metric does not exceed the target,
then as many more columns as still fit (n x C, C >= n). So the resized design's metric is at
most the target and one more column would exceed it: it lands within one column of the target
(and C - n <= 2 whenever the metric grows at least linearly in the PE count). A target below
the design's array-free parts (buffers, vector unit, DRAM interface; a 1 x 1 array) is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from tersim.config.hardware import HardwareConfig, design_problems, resized
from tersim.cost.area import chip_area
from tersim.cost.energy import price_list
from tersim.cost.power import peak_power
from tersim.errors import DesignError


class IsoMetric(StrEnum):
    AREA = "area"  # total chip area, mm^2
    POWER = "power"  # peak power, W


@dataclass(frozen=True)
class IsoDesign:
    """The resized design and how close it came."""

    design: HardwareConfig
    metric: IsoMetric
    target: float  # the baseline's metric (mm^2 or W)
    achieved: float  # the resized design's
    one_more_column: float  # the metric with one more column (above the target)

    @property
    def unit(self) -> str:
        return "mm^2" if self.metric is IsoMetric.AREA else "W"

    def to_json(self) -> dict[str, object]:
        a = self.design.array
        return {
            "metric": self.metric.value,
            "target": self.target,
            "achieved": self.achieved,
            "one_more_column": self.one_more_column,
            "rows": a.rows,
            "cols": a.cols,
        }


def metric_of(hw: HardwareConfig, metric: IsoMetric) -> float:
    """Total area (mm^2) or peak power (W) of ``hw``."""
    if metric is IsoMetric.AREA:
        return chip_area(hw).total_mm2
    return peak_power(hw, price_list(hw)).total_w


def _largest(fits: Callable[[int], bool], lo: int) -> int:
    """Largest n >= lo with fits(n), given fits(lo) and fits monotone (true, then false)."""
    hi = lo
    while fits(hi * 2):
        hi *= 2
    top = hi * 2  # does not fit
    while top - hi > 1:
        mid = (hi + top) // 2
        hi, top = (mid, top) if fits(mid) else (hi, mid)
    return hi


def iso_design(
    design: HardwareConfig, baseline: HardwareConfig, metric: IsoMetric, name: str | None = None
) -> IsoDesign:
    """``design`` with its array resized to ``baseline``'s ``metric`` (module rule)."""
    target = metric_of(baseline, metric)

    def value(rows: int, cols: int) -> float:
        return metric_of(resized(design, rows, cols), metric)

    if value(1, 1) > target:
        raise DesignError(
            f"--iso-{metric.value}: {design.name} without its array already exceeds "
            f"{baseline.name}'s {metric.value} (a 1 x 1 array: {value(1, 1):.4g}; target "
            f"{target:.4g}; expected a baseline at least as large)"
        )
    n = _largest(lambda k: value(k, k) <= target, 1)
    cols = _largest(lambda c: value(n, c) <= target, n)
    label = name or f"{design.name}-iso-{metric.value}-{baseline.name}"
    out = resized(design, n, cols, name=label)
    problems = design_problems(out)
    if problems:
        field, msg = problems[0]
        raise DesignError(f"--iso-{metric.value}: the {n} x {cols} design: {field}: {msg}")
    return IsoDesign(out, metric, target, value(n, cols), value(n, cols + 1))
