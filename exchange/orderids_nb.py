"""Order id -> slot index: an open-addressing hash table in two numpy arrays.

Every accepted id stays in the table for the life of the exchange (a reused id is
rejected even after its order ended); an ended order maps to -1. Keys are positive,
so 0 marks an empty bucket. Linear probing; the caller keeps the load at or below
one half by growing (``rehash``) before an insert could pass it. Lookup and insert
are O(1) expected.
"""
import numpy as np
from numba import njit

EMPTY = 0
ENDED = -1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, inline="always")
def _bucket(order_id, mask):
    mixed = np.uint64(order_id) * _GOLDEN
    return np.int64((mixed >> np.uint64(29)) ^ mixed) & mask


@njit(cache=True)
def find(keys, order_id):
    """Bucket holding ``order_id``, or -1 when the id was never accepted."""
    mask = keys.shape[0] - 1
    b = _bucket(order_id, mask)
    while True:
        k = keys[b]
        if k == order_id:
            return b
        if k == EMPTY:
            return -1
        b = (b + 1) & mask


@njit(cache=True)
def insert(keys, slots, order_id, slot):
    """Add a new id (the caller checked it is absent); returns its bucket."""
    mask = keys.shape[0] - 1
    b = _bucket(order_id, mask)
    while keys[b] != EMPTY:
        b = (b + 1) & mask
    keys[b] = order_id
    slots[b] = slot
    return b


@njit(cache=True)
def rehash(old_keys, old_slots, new_keys, new_slots):
    """Move every id into larger (empty) tables."""
    for b in range(old_keys.shape[0]):
        if old_keys[b] != EMPTY:
            insert(new_keys, new_slots, old_keys[b], old_slots[b])
