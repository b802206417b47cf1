"""FP16 multiply-accumulate PE (the baseline of BitNet b1.58's claim): see :mod:`.mac`."""

from tersim.config.enums import PEKind
from tersim.hw.pe.mac import float16_mac
from tersim.tech.area import fp16_mac_pe_um2

MODEL = float16_mac(PEKind.FP16_MAC, fp16_mac_pe_um2)
