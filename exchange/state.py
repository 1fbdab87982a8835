"""The book's arrays: allocation from a configuration, growth by doubling, copies.

``BookState.arrays`` is the tuple the kernels take as ``book``. Everything that
defines the market's state lives in these arrays, so a snapshot is a copy of them.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from exchange.nb import orderids_nb
from exchange.nb.matching_nb import dump_book
from exchange.config import ConfigError, ExchangeConfig
from exchange.nb.layout import (
    BIT_LAYERS, C_FREE, C_IDS, C_LIVE, COUNTERS, CURSOR_ROWS, I_MAX, I_MAX_QTY, I_MIN, I_UNITS_PER_TICK, INSTRUMENT_COLUMNS,
    L_ANCHOR, L_BASE, L_BEST, L_BITS, L_DEN, L_GRADE, L_INSTRUMENT, L_NLEVELS, L_SIDE, L_SIGN,
    L_WORDS, LADDER_COLUMNS, LEVEL_DTYPE, NEED_IDS, NEED_SLOTS, ORDER_DTYPE, ORDER_UNSET, P_ASK_HEAD,
    P_GOODPUT, P_GRADE, PARTY_ROWS,
)
from exchange.schema import BOOK_DTYPE, BP, BUY, NOT_A_PROVIDER, SELL

_FIELDS = ("orders", "ladders", "levels", "bits", "cursors", "instruments", "grade_floor", "parties",
           "id_keys", "id_slots", "counters", "id_direct")


def _words(n_bits: int) -> int:
    return max(1, -(-n_bits // 64))


def planned_bytes(config: ExchangeConfig) -> int:
    """What the price ladders of ``config`` take once touched (a copy touches them all):
    8 bytes per price level and its share of the occupancy bitsets, per side and grade.
    Computed without allocating, so callers can refuse a config before it eats memory."""
    total = 0
    for ins in config.instruments:
        n_bits = ins.n_levels
        words = 0
        for _ in range(BIT_LAYERS):
            n_bits = _words(n_bits)
            words += n_bits
        total += LEVEL_DTYPE.itemsize * ins.n_levels + 8 * words
    return 2 * len(config.grades) * total + 64 * 1024  # + orders, ids and parties at their start sizes


def aligned_records(count: int, dtype: np.dtype) -> np.ndarray:
    """An uninitialized record array whose first record starts on a 64-byte boundary, so
    that 64-byte records each fill one cache line (NumPy aligns to 16 bytes). Costs at
    most 64 bytes more than ``np.empty``."""
    raw = np.empty(count * dtype.itemsize + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start: start + count * dtype.itemsize].view(dtype)


def aligned_like(array: np.ndarray) -> np.ndarray:
    """An uninitialized array of ``array``'s shape and dtype on a 64-byte boundary
    (``aligned_records`` for any shape)."""
    return aligned_records(array.size, array.dtype).reshape(array.shape)


def copy_bytes(target: np.ndarray, source: np.ndarray) -> None:
    """``target[...] = source`` for C-contiguous arrays of one dtype, as one copy of their
    bytes: NumPy copies records (orders, levels, events, trades) field by field, 10-20x
    slower (1 M order slots: 58 ms against 2.7 ms)."""
    target.view(np.uint8)[...] = source.view(np.uint8)


def joined_records(parts: list, dtype: np.dtype) -> np.ndarray:
    """The records of ``parts`` (each C-contiguous, of ``dtype``) one after another, in one
    copy of their bytes: ``np.concatenate`` copies packed records field by field."""
    if not parts:
        return np.empty(0, dtype)
    return np.concatenate([part.view(np.uint8) for part in parts]).view(dtype)


def unset_orders(orders: np.ndarray) -> np.ndarray:
    """Set ``orders`` (ORDER_DTYPE records) to slots never used: links -1, the rest 0.
    Field by field: NumPy assigns a tuple to records 10x slower."""
    for name, value in zip(ORDER_DTYPE.names, ORDER_UNSET):
        orders[name] = value
    return orders


class BookState:
    """All arrays of one exchange. Each order slot costs 64 bytes, one cache line: an
    ``ORDER_DTYPE`` record (exchange/nb/layout.py; the stp mode folded into the tif field,
    and 8 bytes of regrade sort space). Each price level 8 bytes (a ``LEVEL_DTYPE`` record:
    the head and tail of its queue) plus its bitset share; each order id ever accepted 4 bytes in the direct
    table (dense batch ids) or 12 bytes in a hash kept at most half full."""

    __slots__ = _FIELDS + ("arrays",)

    def __init__(self, config: ExchangeConfig, order_capacity: int = 1024,
                 id_capacity: int = 2048, party_capacity: int = 64, direct_ids: int = 0):
        n_grades = len(config.grades)
        n_instruments = len(config.instruments)
        self.grade_floor = np.array([g.floor_bp for g in config.grades], np.int64)
        self.instruments = np.zeros((n_instruments, INSTRUMENT_COLUMNS), np.int64)
        self.ladders = np.zeros((n_instruments * 2 * n_grades, LADDER_COLUMNS), np.int64)
        # Whole columns at once (a config may hold 100,000 instruments): each instrument's
        # numbers are computed once, then spread over its 2 x G ladders in ladder order.
        lo = np.array([ins.min_ticks for ins in config.instruments], np.int64)
        hi = np.array([ins.max_ticks for ins in config.instruments], np.int64)
        self.instruments[:, I_MIN] = lo
        self.instruments[:, I_MAX] = hi
        self.instruments[:, I_MAX_QTY] = [ins.max_qty for ins in config.instruments]
        unit = config.price_unit
        self.instruments[:, I_UNITS_PER_TICK] = [int(ins.tick / unit) for ins in config.instruments]
        per_instrument = 2 * n_grades
        ins_of = np.repeat(np.arange(n_instruments, dtype=np.int64), per_instrument)
        side_of = np.tile(np.repeat(np.array([BUY, SELL], np.int64), n_grades), n_instruments)
        grade_of = np.tile(np.arange(n_grades, dtype=np.int64), 2 * n_instruments)
        levels = (hi - lo + 1)[ins_of]
        sells = side_of == SELL
        ladders = self.ladders
        ladders[:, L_NLEVELS] = levels
        ladders[:, L_BEST] = levels
        ladders[:, L_BASE] = np.cumsum(levels) - levels
        ladders[:, L_SIGN] = np.where(sells, 1, -1)
        ladders[:, L_ANCHOR] = np.where(sells, lo[ins_of], hi[ins_of])
        ladders[:, L_DEN] = np.where(sells, self.grade_floor[grade_of], BP)
        ladders[:, L_INSTRUMENT] = ins_of
        ladders[:, L_SIDE] = side_of
        ladders[:, L_GRADE] = grade_of
        words = np.empty((len(levels), BIT_LAYERS), np.int64)
        n_bits = levels
        for layer in range(BIT_LAYERS):
            n_bits = np.maximum(1, -(-n_bits // 64))
            words[:, layer] = n_bits
        ladder_start = np.cumsum(words.sum(axis=1)) - words.sum(axis=1)
        for layer in range(BIT_LAYERS):
            ladders[:, L_WORDS + layer] = words[:, layer]
            ladders[:, L_BITS + layer] = ladder_start + words[:, :layer].sum(axis=1)
        level_base = int(levels.sum())
        bit_base = int(words.sum())
        try:
            self.levels = np.zeros(level_base, LEVEL_DTYPE)  # head and tail as slot + 1: 0 = empty level
            self.bits = np.zeros(bit_base, np.uint64)
        except MemoryError:
            gib = (LEVEL_DTYPE.itemsize * level_base + 8 * bit_base) / 2**30
            raise ConfigError(
                f"{config.source}: the price ladders of {n_instruments} instruments need {gib:,.1f} GiB "
                f"({level_base:,} price levels x {LEVEL_DTYPE.itemsize} bytes), more memory than this machine can give; "
                f"narrow the bands or coarsen the ticks") from None
        self.cursors = np.zeros((CURSOR_ROWS, n_grades), np.int64)
        self.orders = unset_orders(aligned_records(order_capacity, ORDER_DTYPE))
        self.parties = np.zeros((PARTY_ROWS, party_capacity), np.int32)
        self.parties[P_GRADE] = NOT_A_PROVIDER
        self.parties[P_ASK_HEAD] = -1
        self.id_keys = np.zeros(id_capacity, np.int64)
        self.id_slots = np.zeros(id_capacity, np.int32)
        self.id_direct = np.zeros(direct_ids, np.int32)  # ids below this: direct (see orderids_nb)
        self.counters = np.zeros(COUNTERS, np.int64)
        self.counters[C_FREE] = -1
        self._refresh_arrays()

    def _refresh_arrays(self) -> None:
        """Rebuild ``arrays``, the kernels' ``book`` tuple (order fixed by matching_nb), after
        any field was replaced. A plain attribute rather than a lazy property: the per-call
        path reads it on every call, and a property costs about 60 ns of that."""
        self.arrays = tuple(getattr(self, name) for name in _FIELDS)

    @staticmethod
    def arrays_names() -> tuple[str, ...]:
        """Names of the state arrays (what a copy copies)."""
        return _FIELDS
    def add_instrument(self, config: ExchangeConfig) -> None:
        """Append the last instrument of ``config`` (listed while running). Its ladders and
        levels go after the others', so every resting order keeps its place; units per
        tick are recomputed for all, since a finer tick can change the price unit.
        Cost: one copy of the level arrays."""
        index = len(config.instruments) - 1
        one = BookState(replace(config, instruments=config.instruments[index:]), order_capacity=1,
                        id_capacity=2, party_capacity=1)
        ladders = one.ladders.copy()
        ladders[:, L_BASE] += self.levels.shape[0]
        for layer in range(BIT_LAYERS):
            ladders[:, L_BITS + layer] += self.bits.shape[0]
        ladders[:, L_INSTRUMENT] = index
        self.ladders = np.concatenate([self.ladders, ladders])
        self.levels = joined_records([self.levels, one.levels], LEVEL_DTYPE)
        self.bits = np.concatenate([self.bits, one.bits])
        self.instruments = np.concatenate([self.instruments, one.instruments])
        for i in range(len(config.instruments)):
            self.instruments[i, I_UNITS_PER_TICK] = config.units_per_tick(i)
        self._refresh_arrays()

    def register_provider(self, party: int, goodput_bp: int, grade: int) -> None:
        self.parties[P_GRADE, party] = grade
        self.parties[P_GOODPUT, party] = goodput_bp

    def ensure_parties(self, count: int) -> None:
        """Room for party indexes below ``count`` (doubling)."""
        capacity = self.parties.shape[1]
        if count <= capacity:
            return
        while capacity < count:
            capacity *= 2
        grown = np.zeros((PARTY_ROWS, capacity), np.int32)
        grown[P_GRADE] = NOT_A_PROVIDER
        grown[P_ASK_HEAD] = -1
        grown[:, : self.parties.shape[1]] = self.parties
        self.parties = grown
        self._refresh_arrays()

    def grow(self, need: int) -> None:
        """Double the array a kernel said was full (NEED_SLOTS or NEED_IDS)."""
        if need == NEED_SLOTS:
            used = self.orders.shape[0]
            orders = aligned_records(2 * used, ORDER_DTYPE)
            copy_bytes(orders[:used], self.orders)
            unset_orders(orders[used:])
            self.orders = orders
        elif need == NEED_IDS:
            keys = np.zeros(self.id_keys.shape[0] * 2, np.int64)
            slots = np.zeros(self.id_keys.shape[0] * 2, np.int32)
            orderids_nb.rehash(self.id_keys, self.id_slots, keys, slots)
            self.id_keys, self.id_slots = keys, slots
        else:
            raise ValueError(f"BookState.grow: unknown need {need}")
        self._refresh_arrays()

    def reserve(self, orders: int = 0, ids: int = 0, dense_ids: int = 0) -> None:
        """Room for ``orders`` order slots, ``ids`` more hashed ids, and a direct id table
        for ids below ``dense_ids`` (hashed ids below it move there; the split stays fixed
        until the next widening, so lookups never miss). Cost: a copy of what it widens."""
        while self.orders.shape[0] < orders:
            self.grow(NEED_SLOTS)
        while 2 * (int(self.counters[C_IDS]) + ids) > self.id_keys.shape[0]:
            self.grow(NEED_IDS)
        if dense_ids > self.id_direct.shape[0]:
            self._widen_direct(dense_ids)

    def _widen_direct(self, size: int) -> None:
        direct = np.zeros(size, np.int32)
        direct[: self.id_direct.shape[0]] = self.id_direct
        used = self.id_keys != orderids_nb.EMPTY
        keys, slots = self.id_keys[used], self.id_slots[used]
        move = keys < size
        if move.any():
            direct[keys[move]] = np.where(slots[move] >= 0, slots[move] + 1, -1)
            new_keys = np.zeros_like(self.id_keys)
            new_slots = np.zeros_like(self.id_slots)
            orderids_nb.rehash(keys[~move], slots[~move], new_keys, new_slots)
            self.id_keys, self.id_slots = new_keys, new_slots
            self.counters[C_IDS] = int(np.count_nonzero(~move))
        self.id_direct = direct
        self._refresh_arrays()

    def resting_orders(self, dump=dump_book) -> np.ndarray:
        """Every resting order (BOOK_DTYPE): instruments in config order, bids then asks,
        each in priority order. ``dump``: ``matching_nb.dump_book`` or its loaded entry point
        (``ENTRIES.dump_book``, which skips the dispatcher's type check). Cost: about 50 ns an
        order, and 4 bytes a slot of link scratch made for the call and not kept, so the book
        itself stays at 64 bytes a slot."""
        rows = np.empty(int(self.counters[C_LIVE]), BOOK_DTYPE)
        dump(self.arrays, rows, np.empty(self.orders.shape[0], np.int32))
        return rows

    def copy(self) -> "BookState":
        clone = object.__new__(BookState)
        for name in _FIELDS:
            array = getattr(self, name)
            copied = aligned_like(array)  # the order records stay one to a cache line
            copy_bytes(copied, array)
            setattr(clone, name, copied)
        clone._refresh_arrays()
        return clone
