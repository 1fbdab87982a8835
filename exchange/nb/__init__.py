"""Numba kernels over plain arrays: the matching engine's bottom layer."""
from exchange.nb.cache_stamp import install

install()  # before any kernel of the project is defined: their caches are stamped (cache_stamp.py)
