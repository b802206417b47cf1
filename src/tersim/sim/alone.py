"""The engine's cycles of one op run alone on an idle machine (what the mapping search asks).

The op's runs go through the machine of :mod:`tersim.sim.core` exactly as :func:`simulate`
plays a one-op schedule, without recording timelines or results. When every run is on one
unit (no fused epilogue), repeated blocks of runs are skipped by the engine's own rule: the machine's relative
state (:meth:`Machine.state_key`) at the start of run ``i`` equals the one at run ``j < i``,
the write-back carried into run ``i``'s first load (its previous run's tiles') equals the one
carried into run ``j``'s, and the runs from ``i`` on begin with ``r`` copies of runs ``j..i-1``;
then those ``r`` copies each happen ``d`` cycles after the previous (``d``: the growth of the
dispatch cycle from ``j`` to ``i``; the recurrence is shift-equivariant), so the runs after
them play as they would from run ``i``, ``r * d`` cycles later. The op's end is the latest of
the transfers before ``i``, the skipped copies' transfers (the block's latest, ``k * d``
later for the k-th copy) and everything after, shifted. Tested equal to :func:`simulate` and
the per-tile oracle.
"""

from __future__ import annotations

from tersim.mapping.schedule import TileRun, Unit
from tersim.sim.core import NEG, Machine, QOp, QRun
from tersim.sim.timing import MemoryTiming

MIN_RUNS_TO_SKIP = 8  # shorter ops are played run by run (the keys would cost more)


def op_alone_cycles(runs: tuple[TileRun, ...], write_bytes: int, mem: MemoryTiming) -> int:
    """Cycles until the last compute or transfer of one op (``runs``, then a write-back of
    ``write_bytes``) ends, run alone from an idle machine."""
    names: list[str] = [Unit.ARRAY, Unit.VECTOR]
    for r in runs:
        for name in (r.unit, r.epilogue_unit) if r.epilogue_cycles else (r.unit,):
            if name not in names:
                names.append(name)
    index = {n: k for k, n in enumerate(names)}
    qruns = tuple(
        QRun(
            r.count,
            r.load_bytes,
            r.compute_cycles,
            index[r.unit],
            mem.buffer_of(r.unit),
            r.write_bytes,
            r.write_ready_cycles,
            r.epilogue_cycles,
            index[r.epilogue_unit] if r.epilogue_cycles else -1,
        )
        for r in runs
    )
    q = QOp(0, qruns, write_bytes, ())
    m = Machine.new(mem, len(names))
    # a fused epilogue puts a second unit in every run: played run by run
    one_unit = len({(x.unit, x.buf, x.epi_unit) for x in qruns}) == 1 and qruns[0].epi_unit < 0
    if not one_unit or len(qruns) < MIN_RUNS_TO_SKIP:
        for k, x in enumerate(qruns):
            m.item(q, k, 0, x.count)
        if write_bytes > 0:
            m.write(0, write_bytes)
        m.flush()
        return m.end_cycle

    def carried(i: int) -> tuple[int, int]:
        """The write-back run ``i``'s first load carries (the previous run's tiles')."""
        return (qruns[i - 1].write_bytes, qruns[i - 1].write_ready) if i else (0, 0)

    u, b = qruns[0].unit, qruns[0].buf
    seen: dict[tuple[object, ...], int] = {}
    dispatch: list[int] = []  # D at the start of each run
    moved: list[int] = []  # the latest transfer end of each run (NEG: none)
    before = NEG  # the latest transfer end before the skipped copies
    shift = 0
    i = 0
    n = len(qruns)
    while i < n:
        if not shift:
            key = m.state_key(u, b)
            j = seen.get(key)
            if j is not None and carried(i) == carried(j):
                p = i - j
                block = qruns[j:i]
                copies = 0
                while qruns[i + copies * p : i + (copies + 1) * p] == block:
                    copies += 1
                if write_bytes > 0:  # keep a run to play: the op closes, then writes back
                    copies = min(copies, (n - i - 1) // p)
                if copies:
                    d = m.D - dispatch[j]
                    shift = copies * d
                    block_end = max(moved[j:i])
                    before = max(moved[:i], default=NEG)
                    if block_end > NEG:
                        before = max(before, block_end + shift)
                    m.last_transfer_end = NEG  # from here on: the shifted part's transfers
                    m.open[0][3] -= sum(x.count for x in qruns[i : i + copies * p])
                    i += copies * p
                    continue
            seen[key] = i
            dispatch.append(m.D)
            m.last_transfer_end = NEG
        m.item(q, i, 0, qruns[i].count)
        if not shift:
            moved.append(m.last_transfer_end)
        i += 1
    if write_bytes > 0:  # the op's write-back: after the tiles, in the frame they end in
        m.write(0, write_bytes)
    m.flush()
    if not shift:
        return max(m.unit_free[u], max(moved), m.last_transfer_end, 0)
    late = max(m.unit_free[u] + shift, before)
    if m.last_transfer_end > NEG:
        late = max(late, m.last_transfer_end + shift)
    return max(late, 0)
