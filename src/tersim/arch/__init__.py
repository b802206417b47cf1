"""Array-level timing: closed-form systolic GEMM timing and its cycle-stepped oracle."""

from tersim.arch.systolic import (
    FoldGrid,
    GemmAccesses,
    GemmTiming,
    PassTiming,
    drain_cycles,
    fill_cycles,
    gemm_accesses,
    gemm_folds,
    gemm_timing,
    pass_timing,
    preload_cycles,
    spatial_temporal_dims,
    stationary_issue_interval,
    stream_cycles,
)

__all__ = [
    "FoldGrid",
    "GemmAccesses",
    "GemmTiming",
    "PassTiming",
    "drain_cycles",
    "fill_cycles",
    "gemm_accesses",
    "gemm_folds",
    "gemm_timing",
    "pass_timing",
    "preload_cycles",
    "spatial_temporal_dims",
    "stationary_issue_interval",
    "stream_cycles",
]
