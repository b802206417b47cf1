"""The report's headline: which design wins on energy, latency and DRAM traffic, by how much
and why, in sentences computed from the record.

Rules: every ratio is written "loser / winner" so it reads above 1 and names its direction;
the *why* of energy is the component whose energy differs most between the two runs (and for
DRAM the operand whose traffic differs most); the *why* of a phase's time is the slower
design's busiest resource in that phase: a compute unit's busy share of the phase, or the
share of the phase DRAM would need to move the phase's bytes at its full bandwidth.
"""

from __future__ import annotations

from typing import Any

from tersim.report.data import PhaseEnergy, RunDetail
from tersim.report.labels import (
    COMPONENT_WORDS,
    OP_KIND_WORDS,
    OPERAND_WORDS,
    bytes_text,
    energy_text,
    ratio_text,
    seconds_text,
    unit_words,
    words,
)


def _versus(a: float, b: float, name_a: str, name_b: str, what: str) -> tuple[str, str]:
    """(winner, "loser / winner what: Nx") for a quantity where less is better."""
    if a <= b:
        return name_a, f"{name_b} / {name_a} {what}: {ratio_text(b / a if a else None)}"
    return name_b, f"{name_a} / {name_b} {what}: {ratio_text(a / b if b else None)}"


def _bottleneck(p: PhaseEnergy, dram_bytes_per_s: float) -> tuple[str, float]:
    """(unit or "dram", share of the phase's time) of the busiest resource in phase ``p``."""
    if p.cycles == 0:
        return "dram", 0.0
    shares = {u: c / p.cycles for u, c in p.busy_cycles.items()}
    moved = sum(p.dram_read_by_operand_bytes.values()) + p.dram_write_bytes
    shares["dram"] = moved / dram_bytes_per_s / p.seconds if p.seconds else 0.0
    name = max(sorted(shares), key=lambda k: shares[k])
    return name, shares[name]


def _busiest_work(det: RunDetail, phase: str, unit: str) -> str:
    """The op kinds that keep ``unit`` busiest in ``phase``, in words, with their shares."""
    by_kind: dict[str, int] = {}
    for g in det.groups:
        if g.phase == phase and g.unit == unit:
            by_kind[g.kind] = by_kind.get(g.kind, 0) + g.busy_cycles * g.instances
    total = sum(by_kind.values())
    if not total:
        return ""
    top = sorted(by_kind, key=lambda k: (-by_kind[k], k))[:2]
    return ", mostly on " + " and ".join(
        f"{words(k, OP_KIND_WORDS)}, {100 * by_kind[k] / total:.0f}% of its busy time" for k in top
    )


def headline(
    doc: dict[str, Any],
    names: tuple[str, str],
    details: tuple[RunDetail, RunDetail] | None,
) -> list[str]:
    """Sentences comparing the design (``doc["run"]``) with its baseline; [] without one."""
    if "baseline" not in doc:
        return []
    d, b = doc["run"], doc["baseline"]
    nd, nb = names
    out = []
    # energy
    ed, eb = d["energy_pj"]["total"], b["energy_pj"]["total"]
    win, ratio = _versus(ed, eb, nd, nb, "energy")
    comps = ("mul", "add", "lookup", "sram", "dram", "vector", "leakage")
    diff = max(comps, key=lambda c: abs(b["energy_pj"].get(c, 0.0) - d["energy_pj"].get(c, 0.0)))
    part = {"mul": "multiplies", "add": "adds", "lookup": "table lookups"}.get(diff)
    comp_words = part or words(diff, {c.value: w for c, w in COMPONENT_WORDS.items()})
    why = (
        f"the largest difference is {comp_words}: {energy_text(d['energy_pj'].get(diff, 0.0))} "
        f"on {nd} against {energy_text(b['energy_pj'].get(diff, 0.0))} on {nb}"
    )
    if diff == "dram":
        rd, rb = d["dram_read_bytes_by_kind"], b["dram_read_bytes_by_kind"]
        op = max(sorted(rd.keys() | rb.keys()), key=lambda k: abs(rb.get(k, 0) - rd.get(k, 0)))
        why += (
            f", because {nd} reads {bytes_text(rd.get(op, 0))} of "
            f"{words(op, OPERAND_WORDS)} against {bytes_text(rb.get(op, 0))}"
        )
    out.append(
        f"Energy: {win} wins, {energy_text(min(ed, eb))} against {energy_text(max(ed, eb))} "
        f"for the whole run ({ratio}); {why}."
    )
    # latency, then each phase with its bottleneck
    win, ratio = _versus(d["seconds"], b["seconds"], nd, nb, "latency")
    text = (
        f"Latency: {win} is faster, {seconds_text(min(d['seconds'], b['seconds']))} against "
        f"{seconds_text(max(d['seconds'], b['seconds']))} end to end ({ratio})."
    )
    for ph in ("prefill", "decode"):
        if ph not in d["phases"] or ph not in b["phases"]:
            continue
        sd, sb = d["phases"][ph]["seconds"], b["phases"][ph]["seconds"]
        win, ratio = _versus(sd, sb, nd, nb, f"{ph} time")
        text += f" In {ph}, {win} is faster ({seconds_text(min(sd, sb))} against "
        text += f"{seconds_text(max(sd, sb))}; {ratio})"
        if details is not None:
            loser = 1 if win == nd else 0
            det = details[loser]
            p = next((q for q in det.phases if q.phase == ph), None)
            if p is not None:
                res, share = _bottleneck(p, det.dram_bytes_per_s)
                if res == "dram":
                    text += (
                        f": {names[loser]} is DRAM-bound there (moving its bytes at full "
                        f"bandwidth takes {share * 100:.0f}% of the phase)"
                    )
                else:
                    text += (
                        f": {names[loser]}'s busiest resource there is its {unit_words(res)}, "
                        f"busy {share * 100:.0f}% of the phase{_busiest_work(det, ph, res)}"
                    )
        text += "."
    out.append(text)
    # DRAM traffic
    td = d["dram_read_bytes"] + d["dram_write_bytes"]
    tb = b["dram_read_bytes"] + b["dram_write_bytes"]
    win, ratio = _versus(td, tb, nd, nb, "DRAM traffic")
    rd, rb = d["dram_read_bytes_by_kind"], b["dram_read_bytes_by_kind"]
    op = max(sorted(rd.keys() | rb.keys()), key=lambda k: abs(rb.get(k, 0) - rd.get(k, 0)))
    out.append(
        f"DRAM traffic: {win} moves less, {bytes_text(min(td, tb))} against "
        f"{bytes_text(max(td, tb))} read and written ({ratio}); most of the difference is "
        f"{words(op, OPERAND_WORDS)} ({bytes_text(rd.get(op, 0))} on {nd}, "
        f"{bytes_text(rb.get(op, 0))} on {nb})."
    )
    return out
