"""The decorators of every kernel, and how kernels are loaded.

``kernel``: a compiled function of its own.
- ``cache=True``: compiled once per machine, then loaded from ``__pycache__``.
- ``_nrt=False``: no Numba runtime reference counting. The matching kernels only read
  and write arrays the caller owns, so counting references buys nothing, and its
  atomic increments on every call of a helper taking the state tuple cost more than
  the matching itself (measured: 335 ns -> 42 ns for a call that reads four fields).
  The price: kernels cannot allocate; scratch space is passed in with the state.
- ``nogil=True``: independent books (instrument shards) can match on several threads.

``helper``: the same, inlined into every caller by LLVM (``forceinline``). Passing the
12-array state tuple to a function that is not inlined costs about 20 ns per call, so
the small functions and the handlers on the hot path (new, cancel, replace, matching)
are helpers. They used to be inlined at Numba IR level (``inline="always"``), which
types and lowers a fresh copy of the callee at every call site: the same machine code,
but 3x the compile time of the matching core and 7x that of the writers (measured by
``bench/compile_times.py``: the cold replay went from 108 s to 28 s of compile CPU).

``io_kernel`` / ``io_helper``: the same pair with the Numba runtime, for the reader
and the writers, whose kernels allocate their results, and for the njit API's compiled
halves, which make arrays from an address table (exchange/nb/embed_nb.py).

One signature per kernel. Every dispatcher here compiles scalar arguments as int64
(signed) or uint64 (unsigned), whatever the caller passed: an ``int32`` field, a
literal constant or an ``int8`` code. Without this, each distinct combination of
argument types at a call site compiled one more copy of the callee (the event writer
``emit`` had 17), and a query called from Python with a numpy ``int32`` compiled a
second entry point in the middle of a simulation. Arrays must still match: callers
pass the array types of ``exchange.state`` and ``exchange.schema``. The price: a kernel
parameter cannot be a compile-time constant (a literal tuple index); pass the element.

``load(dispatcher, *example_args)`` compiles or loads a kernel ahead of its first
call and returns its compiled entry point (skipping Numba's per-call type dispatch);
``is_cached`` tells whether that will be a load (fast) or a compile (seconds).

Prompt exit. A process that loaded the kernels holds some 10^6 Python objects of
Numba's (types, typing templates, compiled libraries). At exit the interpreter runs
full garbage collections over all of them while it tears the modules down: 0.6-1.4 s
of ``gc_collect_main`` (measured with perf) after the work is done. An exit handler
freezes the heap first (``gc.freeze``), so those collections find nothing to scan:
exit drops to about 0.1 s. Objects still alive at exit are then left to the OS, as
they are by ``os._exit``; Python never promised to finalize them.

Non-negative indexes. NumPy lets ``a[-1]`` mean the last element, so Numba guards every
signed integer index with a compare and a select (``i < 0 ? i + n : i``): some 700 of
them in the matching core, one per array access. Our kernels never index with a
negative number (-1 marks "none" and is tested before use; running the tests with
``NUMBA_BOUNDSCHECK=1`` checks it), so the kernels of ``exchange.nb`` are compiled without
that guard (``nonnegative_indexes``): measured, the plain workload's kernel went from 41
to 33 ns an action, the standard mix from 49 to 42. Numba has no option for this; the
one function that emits the guard is wrapped, for functions of the named modules only,
and left alone for everything else (user code, Numba's own library). Should a Numba
release move that function, kernels compile with the guard, as before (slower, the same
results).
"""
from __future__ import annotations

import atexit
import gc
import logging
import time

from numba import typeof, types
from numba.core import sigutils
from numba.core.registry import CPUDispatcher

log = logging.getLogger("exchange")
atexit.register(gc.freeze)  # registered first, so it runs after every later exit handler


_NONNEGATIVE_PREFIXES: list[str] = []


def nonnegative_indexes(module: str) -> None:
    """Compile the functions of ``module`` and its submodules without negative-index
    wraparound: every integer index they use must be in 0..len-1. Call before they compile."""
    _NONNEGATIVE_PREFIXES.append("_ZN" + "".join(f"{len(part)}{part}" for part in module.split(".")))


def _install_nonnegative_indexing() -> None:
    """Wrap Numba's index fix-up so that it skips the wraparound in functions whose
    (Itanium-mangled) name starts with a registered module's prefix."""
    try:
        from numba.np import arrayobj
        wraparound = arrayobj.fix_integer_index
    except (ImportError, AttributeError):  # another Numba: keep the guard
        return

    def fix_integer_index(context, builder, idxty, idx, size):
        if idxty.signed and builder.function.name.startswith(tuple(_NONNEGATIVE_PREFIXES)):
            return context.cast(builder, idx, idxty, types.intp)
        return wraparound(context, builder, idxty, idx, size)

    arrayobj.fix_integer_index = fix_integer_index


_install_nonnegative_indexing()
nonnegative_indexes("exchange.nb")


def _widened(argtype):
    """int64 / uint64 for every integer scalar (literal or not); other types as given."""
    argtype = types.unliteral(argtype)
    if isinstance(argtype, types.Integer) and not isinstance(argtype, types.Boolean):
        return types.int64 if argtype.signed else types.uint64
    return argtype


class OneSignature(CPUDispatcher):
    """A Numba dispatcher that compiles integer scalars as 64-bit: one signature per
    kernel for every caller that passes the same arrays."""

    def compile(self, sig):
        args, return_type = sigutils.normalize_signature(sig)
        args = tuple(_widened(a) for a in args)
        return super().compile(args if return_type is None else return_type(*args))


def _decorator(**options):
    def decorate(func):
        dispatcher = OneSignature(py_func=func, locals={}, targetoptions=dict(nopython=True, boundscheck=None, **options))
        dispatcher.enable_caching()
        return dispatcher
    return decorate


kernel = _decorator(_nrt=False, nogil=True, forceinline=False)
helper = _decorator(_nrt=False, nogil=True, forceinline=True)
io_kernel = _decorator(nogil=True, forceinline=False)
io_helper = _decorator(nogil=True, forceinline=True)


def name_of(dispatcher) -> str:
    return f"{dispatcher.py_func.__module__}.{dispatcher.py_func.__qualname__}"


def load(dispatcher, *example_args):
    """The compiled entry point of ``dispatcher`` for the types of ``example_args``
    (compiled now, or loaded from the cache; nothing is run).

    Calling it skips Numba's type dispatch (about 0.7 us a call). Raises RuntimeError
    if the kernel then holds more than one signature: some caller passed other array
    types, and the entry point returned here would not be the one it runs."""
    return load_signature(dispatcher, tuple(typeof(a) for a in example_args))


def load_signature(dispatcher, signature: tuple):
    """``load`` for a tuple of Numba types instead of example arguments."""
    entry = dispatcher.compile(signature)
    if len(dispatcher.overloads) != 1:
        signatures = "; ".join(str(s) for s in dispatcher.signatures)
        raise RuntimeError(f"{name_of(dispatcher)} has {len(dispatcher.overloads)} compiled signatures "
                           f"({signatures}); every caller must pass the same array types")
    return entry


def is_cached(dispatcher) -> bool | None:
    """Is a compiled copy of this kernel, for this machine and this source, in the cache?
    None when Numba's cache cannot be inspected (an unknown Numba version)."""
    try:
        cache = dispatcher._cache
        codegen = dispatcher.targetctx.codegen()
        _, magic, code = cache._index_key((), codegen)
        index = cache._cache_file._load_index()
        return any(key[1] == magic and key[2] == code for key in index)
    except Exception:  # noqa: BLE001 - Numba internals; the answer is only a hint
        return None


def announce_compile(what: str, seconds: int, kernels) -> bool:
    """Tell the user, once, before a cold cache makes them wait: logs one line on the
    ``exchange`` logger (the command prints it on stderr) when any of ``kernels`` is
    not cached. Returns whether it did."""
    states = [is_cached(k) for k in kernels]
    if all(state is not False for state in states):
        return False
    missing = sum(1 for state in states if state is False)
    log.warning("compiling %s (%d kernels) for this machine: this happens once per machine "
                "and takes about %d s; later runs load them from the cache in under a second",
                what, missing, seconds)
    return True


class Stopwatch:
    """Seconds spent in a ``with`` block, for load reports."""

    def __enter__(self):
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *_exc):
        self.seconds = time.perf_counter() - self.start
        return False
