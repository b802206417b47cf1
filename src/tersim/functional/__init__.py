"""Functional (bit-exact) model of ternary inference: quantizers, weight packing, kernels.

Weight matrices are ``(K, N)``: ``K`` input features by ``N`` output features, ``y = x @ w``.
"""
