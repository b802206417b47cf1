"""tersim: a cycle-level simulator of ternary (1.58-bit) LLM accelerators.

``tersim.trace(spec, phase=...)`` traces a workload; ``tersim.run.pipeline.run`` simulates it;
``tersim.functional`` holds the quantizers, packing and kernels.
"""

from tersim._version import __version__
from tersim.api import trace

__all__ = ["__version__", "trace"]
