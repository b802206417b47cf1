"""BF16 multiply-accumulate PE (also runs NF4/FP4 weights dequantized to bf16): see :mod:`.mac`.
Priced with the FP16 figures (no separate published BF16 figure)."""

from tersim.config.enums import PEKind
from tersim.hw.pe.mac import float16_mac
from tersim.tech.area import bf16_mac_pe_um2

MODEL = float16_mac(PEKind.BF16_MAC, bf16_mac_pe_um2)
