"""Order id -> slot index: an open-addressing hash table in two numpy arrays.

Every accepted id stays in the table for the life of the exchange (a reused id is
rejected even after its order ended); an ended order maps to -1. Keys are positive,
so 0 marks an empty bucket. Linear probing; the caller keeps the load at or below
one half by growing (``rehash``) before an insert could pass it. Lookup and insert
are O(1) expected.

Ids usually arrive in increasing order, so the hash keeps each run of 8 consecutive
ids in one 64-byte line and scatters the runs (Fibonacci hashing of ``id >> 3``):
a stream of new orders then costs one cache miss per 8 ids instead of one each.
"""
import numpy as np

from .kernel import helper, kernel

EMPTY = 0
ENDED = -1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@helper
def _bucket(order_id, mask):
    run = np.uint64(order_id >> 3) * _GOLDEN
    scattered = np.int64((run >> np.uint64(29)) ^ run)
    return ((scattered << 3) | (order_id & 7)) & mask


@helper
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


@helper
def insert(keys, slots, order_id, slot):
    """Add a new id (the caller checked it is absent); returns its bucket."""
    mask = keys.shape[0] - 1
    b = _bucket(order_id, mask)
    while keys[b] != EMPTY:
        b = (b + 1) & mask
    keys[b] = order_id
    slots[b] = slot
    return b


@kernel
def rehash(old_keys, old_slots, new_keys, new_slots):
    """Move every id into larger (empty) tables."""
    for b in range(old_keys.shape[0]):
        if old_keys[b] != EMPTY:
            insert(new_keys, new_slots, old_keys[b], old_slots[b])
