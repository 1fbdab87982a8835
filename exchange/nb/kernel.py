"""The two decorators of the matching kernels.

``kernel``: a compiled function of its own.
- ``cache=True``: compiled once, then loaded from ``__pycache__`` (warm start about 0.6 s).
- ``_nrt=False``: no Numba runtime reference counting. The kernels only read and write
  arrays the caller owns, so counting references buys nothing, and its atomic
  increments on every call of a helper taking the state tuple cost more than the
  matching itself (measured: 335 ns -> 42 ns for a call that reads four fields). The
  price: kernels cannot allocate; scratch space is passed in with the state.
- ``nogil=True``: independent books (instrument shards) can match on several threads.

``helper``: the same, inlined into its caller at Numba IR level. Passing the 13-array
state tuple to a function that is not inlined costs about 20 ns per call, so the small
functions and the handlers on the hot path (new, cancel, replace, matching) are
helpers: a plain insert dropped from 112 ns to 39 ns, the standard mix from 146 to
85 ns per action. Rare paths (regrade, close, post-only check) stay kernels, which
keeps the cold compile near 35 s.
"""
from numba import njit

kernel = njit(cache=True, _nrt=False, nogil=True)
helper = njit(cache=True, _nrt=False, nogil=True, inline="always")
