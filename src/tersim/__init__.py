"""tersim: a cycle-level simulator of ternary (1.58-bit) LLM accelerators.

The Python API (see docs/api.md)::

    import tersim
    hw = tersim.load_hardware("ternary-128x128-7nm")      # a shipped name, or a YAML path
    wl = tersim.load_workload("bitnet-b1.58-2b4t")        # or a Hugging Face config.json
    res = tersim.run(hw, wl, phase="decode", gen_tokens=16, baseline="fp16-128x128-7nm")
    res.summary(); res.ops(); res.to_dataframe()

``tersim.run`` is the function; the pipeline module stays importable as
``from tersim.run.pipeline import ...``. ``tersim.functional`` holds the quantizers, packing
and kernels of the bit-exact ternary model.
"""

import tersim.run.pipeline  # noqa: F401  (binds the subpackage before the function shadows it)
from tersim._version import __version__
from tersim.api import (
    ImportNote,
    Result,
    Table,
    default_baseline,
    derive,
    gemm,
    import_hf,
    load_hardware,
    load_workload,
    run,
    sweep,
    trace,
    validated,
)
from tersim.errors import ConfigError, DesignError, TersimError, WorkloadError

__all__ = [
    "ConfigError",
    "DesignError",
    "ImportNote",
    "Result",
    "Table",
    "TersimError",
    "WorkloadError",
    "__version__",
    "default_baseline",
    "derive",
    "gemm",
    "import_hf",
    "load_hardware",
    "load_workload",
    "run",
    "sweep",
    "trace",
    "validated",
]
