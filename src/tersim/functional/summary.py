"""What a measured trace measured, per layer: the numbers a run record shows next to its cycles.

For each phase and layer (``layer_0`` ..; ``head`` would be layer -1, which has no measured
ops), over the layer's LINEAR ops and every decode step of the phase:

- ``weight_zero_fraction``: zero weights over all weights (each matrix counted once);
- ``act_sparsity``: exact zeros among the quantized activation inputs, weighted by input
  elements (``M * K`` per op);
- ``adds``, ``subs``, ``skips``: sums of the ops' measured counts.
"""

from __future__ import annotations

from tersim.workload.trace import Workload


def measured_by_layer(wl: Workload) -> dict[str, dict[str, dict[str, float]]]:
    """``{phase: {"layer_i": {field: value}}}`` for the measured ops of ``wl`` (module doc);
    empty for a trace without measurements."""
    acc: dict[tuple[str, int], dict[str, float]] = {}
    weights_seen: set[tuple[str, int, str]] = set()
    for op in wl.ops:
        m = op.measured
        if m is None:
            continue
        key = (op.phase.value, op.layer)
        a = acc.setdefault(
            key,
            {"w": 0.0, "w_zero": 0.0, "x": 0.0, "x_zero": 0.0, "adds": 0, "subs": 0, "skips": 0},
        )
        if (op.phase.value, op.layer, op.name) not in weights_seen:  # a matrix once per phase
            weights_seen.add((op.phase.value, op.layer, op.name))
            a["w"] += op.k * op.n
            a["w_zero"] += m.weight_zero_fraction * op.k * op.n
        a["x"] += op.m * op.k
        a["x_zero"] += m.act_sparsity * op.m * op.k
        a["adds"] += m.adds
        a["subs"] += m.subs
        a["skips"] += m.skips
    out: dict[str, dict[str, dict[str, float]]] = {}
    for (phase, layer), a in sorted(acc.items()):
        out.setdefault(phase, {})[f"layer_{layer}"] = {
            "weight_zero_fraction": a["w_zero"] / a["w"] if a["w"] else 0.0,
            "act_sparsity": a["x_zero"] / a["x"] if a["x"] else 0.0,
            "adds": int(a["adds"]),
            "subs": int(a["subs"]),
            "skips": int(a["skips"]),
        }
    return out
