"""Lower bounds on an op's DRAM traffic: what no schedule of it can beat.

* **Compulsory traffic**: every tensor that lives in DRAM read once (weights, the KV cache,
  activations that do not stay on chip) and every output that leaves the chip written once, each
  in whole bursts (``dram.burst_bytes``). A schedule whose operands all fit on chip reaches it
  exactly, so ``dram_bytes / compulsory_bytes`` is 1 there and tells how much a schedule
  refetches elsewhere.
* **Communication bound for a matrix product** with ``S`` words of fast memory. Hong and Kung
  ("I/O complexity: the red-blue pebble game", STOC 1981) proved that the classical product
  moves ``Omega(M N K / sqrt(S))`` words between slow and fast memory; Kwasniewski et al. ("Red-
  blue pebbling revisited: near optimal parallel matrix-matrix multiplication", SC 2019,
  sequential bound of their section 5) give it with its constant: at least
  ``2 M N K / sqrt(S) + M N`` I/O operations, the ``M N`` being the stores of the result.
  tersim's operands have different widths, so the bound is applied in the conservative unit of
  the narrowest operand: ``b`` bytes per word and ``S = on-chip bytes / b`` words, giving
  ``b * 2 M N K / sqrt(S)`` bytes of loads (plus the result's write, counted in the compulsory
  part). It holds when both operands start in DRAM (an input already on chip is outside the
  pebble game's start state), so it is applied only then. ``S`` is the whole on-chip SRAM.

The op's lower bound is the larger of the two.
"""

from __future__ import annotations

import math

from tersim.config.enums import BufferRole
from tersim.config.hardware import HardwareConfig


def on_chip_bytes(hw: HardwareConfig) -> int:
    """All the SRAM a schedule could use as fast memory."""
    if hw.sram.unified is not None:
        return hw.sram.unified.size_bytes
    return sum(hw.buffer(r).size_bytes for r in BufferRole)


def matmul_load_bound_bytes(
    m: int,
    n: int,
    k: int,
    instances: int,
    narrowest_bits: float,
    fast_bytes: int,
) -> int:
    """Bytes any schedule of ``instances`` independent (m x k) @ (k x n) products must load
    from DRAM with ``fast_bytes`` of on-chip memory (module rules; rounded down)."""
    word = narrowest_bits / 8
    words = fast_bytes / word
    return math.floor(instances * word * 2 * m * n * k / math.sqrt(words))


def op_lower_bound_bytes(compulsory: int, matmul_loads: int, write_bytes: int) -> int:
    """The larger of the compulsory traffic and the communication bound (loads plus the
    result's write-back)."""
    return max(compulsory, matmul_loads + write_bytes)
