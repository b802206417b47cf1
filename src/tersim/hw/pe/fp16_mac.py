"""FP16 multiply-accumulate PE (the baseline of BitNet b1.58's claim): see :mod:`.mac`."""

from tersim.config.enums import PEKind
from tersim.hw.pe.mac import MacPE
from tersim.tech.area import fp16_mac_pe_um2

MODEL = MacPE(
    PEKind.FP16_MAC,
    native_act_bits=16,
    native_out_bits=16,
    is_float=True,
    max_operand_bits=16,
    cell_um2=fp16_mac_pe_um2,
)
