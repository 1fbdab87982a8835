"""The compiled entry points the per-call ``Exchange`` calls directly (``kernel.load``).

Numba's type dispatch (~0.7 us a call) buys nothing when our own arrays always match the
one signature each kernel has, so ``Exchange``'s actions, queries and lean calls call the
entry points. ``ENTRIES`` is one object for the process, filled by the first ``Exchange``
(``ENTRIES.load``): modules bind it by name and read its attributes, a look-up as cheap as
a module global.
"""
from __future__ import annotations

import numpy as np

from exchange.nb import actions_nb, lean_nb, orderids_nb
from exchange.nb.kernel import load, load_signature
from exchange.nb.ladder_nb import level_open_qty, level_price, next_level
from exchange.nb.matching_nb import dump_book, process, process_one
from exchange.schema import BOOK_DTYPE
from exchange.state import BookState


class Entries:
    """The per-call kernels' entry points; None until ``load`` (once per process)."""

    def __init__(self) -> None:
        self.process_one = self.process = self.dump_book = self.lookup = self.level_price = self.next_level = None
        self.level_open_qty = None
        self.lean_submit = self.lean_cancel = None  # submit_fast / cancel_fast (load_lean)

    def load(self, state: BookState, events: np.ndarray, trades: np.ndarray, action: np.ndarray) -> None:
        """Load (compile on a machine's first run) every kernel a call or query runs."""
        book, out = state.arrays, (events, trades)
        self.process_one = load(process_one, book, out, action, *([0] * 15))
        self.process = load(process, action, 0, book, out)  # apply's, for C-contiguous rows
        self.dump_book = load(dump_book, book, np.empty(0, BOOK_DTYPE), np.empty(0, np.int32))
        self.lookup = load(orderids_nb.lookup, state.id_direct, state.id_keys, state.id_slots, 0)
        self.level_price = load(level_price, state.ladders, 0, 0)
        self.next_level = load(next_level, state.bits, state.ladders, 0, 0)
        self.level_open_qty = load(level_open_qty, state.orders, state.levels, 0)
        load(orderids_nb.rehash, state.id_keys, state.id_slots, state.id_keys, state.id_slots)
        load(actions_nb.check_and_number, action, 0, 0, 0, 0)  # apply's row check
        self.load_lean()

    def load_lean(self) -> None:
        """The lean kernels' entry points (``submit_fast`` / ``cancel_fast``): 0.06 s from
        the cache, so ``load`` takes them too and no call compiles."""
        if self.lean_submit is None:
            self.lean_submit = load_signature(lean_nb.submit_traded, lean_nb.SUBMIT_SIGNATURE)
            self.lean_cancel = load_signature(lean_nb.cancel_open, lean_nb.CANCEL_SIGNATURE)


ENTRIES = Entries()

