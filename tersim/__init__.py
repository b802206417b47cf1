"""tersim: a cycle-level simulator of ternary (1.58-bit) LLM accelerators."""

__version__ = "0.1.0"
