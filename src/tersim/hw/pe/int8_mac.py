"""INT8 multiply-accumulate PE (W8A8; runs ternary/binary weights as int8): see :mod:`.mac`.
Outputs are dequantized to 16-bit floats; attention only against an 8-bit KV cache."""

from tersim.config.enums import PEKind
from tersim.hw.pe.mac import MacPE
from tersim.tech.area import int8_mac_pe_um2

MODEL = MacPE(
    PEKind.INT8_MAC,
    native_act_bits=8,
    native_out_bits=16,
    is_float=False,
    max_operand_bits=8,
    cell_um2=int8_mac_pe_um2,
)
