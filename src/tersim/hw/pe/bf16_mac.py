"""BF16 multiply-accumulate PE (also runs NF4/FP4 weights dequantized to bf16): see :mod:`.mac`.
Priced with the FP16 figures (no separate published BF16 figure)."""

from tersim.config.enums import PEKind
from tersim.hw.pe.mac import MacPE
from tersim.tech.area import bf16_mac_pe_um2

MODEL = MacPE(
    PEKind.BF16_MAC,
    native_act_bits=16,
    native_out_bits=16,
    is_float=True,
    max_operand_bits=16,
    cell_um2=bf16_mac_pe_um2,
)
