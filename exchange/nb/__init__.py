"""Numba kernels over plain arrays: the matching engine's bottom layer."""
