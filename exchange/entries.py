"""The compiled entry points the per-call ``Exchange`` calls directly (``kernel.load``).

Numba's type dispatch (~0.7 us a call) buys nothing when our own arrays always match the
one signature each kernel has, so ``Exchange``'s actions, queries and lean calls call the
entry points. ``ENTRIES`` is one object for the process, filled by the first ``Exchange``
(``ENTRIES.load``): modules bind it by name and read its attributes, a look-up as cheap as
a module global.
"""
from __future__ import annotations

import numpy as np

from exchange.nb import orderids_nb
from exchange.nb.kernel import load
from exchange.nb.ladder_nb import level_price, next_level
from exchange.nb.matching_nb import dump_book, process, process_one
from exchange.schema import BOOK_DTYPE
from exchange.state import BookState


class Entries:
    """The per-call kernels' entry points; None until ``load`` (once per process)."""

    def __init__(self) -> None:
        self.process_one = self.dump_book = self.lookup = self.level_price = self.next_level = None

    def load(self, state: BookState, events: np.ndarray, trades: np.ndarray, action: np.ndarray) -> None:
        """Load (compile on a machine's first run) every kernel a call or query runs."""
        book, out = state.arrays, (events, trades)
        self.process_one = load(process_one, book, out, action, *([0] * 15))
        load(process, action, 0, book, out)
        self.dump_book = load(dump_book, book, np.empty(0, BOOK_DTYPE))
        self.lookup = load(orderids_nb.lookup, state.id_direct, state.id_keys, state.id_slots, 0)
        self.level_price = load(level_price, state.ladders, 0, 0)
        self.next_level = load(next_level, state.bits, state.ladders, 0, 0)
        load(orderids_nb.rehash, state.id_keys, state.id_slots, state.id_keys, state.id_slots)


ENTRIES = Entries()


def entry_point(dispatcher, args):
    """The compiled entry point for ``args``' types, compiled or loaded from the cache
    without running the kernel. RuntimeError rather than a silent fallback to the
    dispatcher (whose type check costs about 0.7 us a call)."""
    from numba import typeof
    signature = tuple(typeof(a) for a in args)
    dispatcher.compile(signature)
    entry = getattr(dispatcher.overloads.get(signature), "entry_point", None)
    if entry is None or len(dispatcher.overloads) != 1:
        raise RuntimeError(f"{dispatcher.py_func.__qualname__}: expected one compiled signature, "
                           f"found {len(dispatcher.overloads)}")
    return entry
