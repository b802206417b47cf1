"""Strict scalar types for YAML fields, and the physical ranges of tersim's numbers.

Strict: ``rows: "128"`` or ``double_buffered: 1`` are errors. Every float is finite (``.inf`` and
``.nan`` are errors). Every number also gets an upper bound in its schema (``le=``), chosen where
a larger value describes no machine or model (the bounds are far beyond any built chip or
published model, so they only stop mistakes and hostile input, like ``layers: 2**63``). The
bounds the CLI shares with the schemas live here.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, Strict

PosInt = Annotated[int, Strict(), Field(gt=0)]
NonNegInt = Annotated[int, Strict(), Field(ge=0)]
PosFloat = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]
Flag = Annotated[bool, Strict()]

# Workload scale, shared by the workload and sweep schemas and the CLI's options.
MAX_CONTEXT_TOKENS = 1 << 24  # 16.8M tokens: beyond the longest published context windows
MAX_BATCH = 1 << 16  # sequences per batch
# Seeds of the synthetic weights: numpy's seed range.
MAX_SEED = 2**32 - 1
# One GEMM's dimensions (tersim gemm): a 2^24 x 2^24 matrix is 2.8e14 elements.
MAX_GEMM_DIM = 1 << 24
# Parallel sweep processes.
MAX_JOBS = 1024
