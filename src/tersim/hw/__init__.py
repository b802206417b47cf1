"""Hardware models, one plug-in per kind: PEs (``pe``), dataflows (``dataflow``), DRAM (``dram``)."""
