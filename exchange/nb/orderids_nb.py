"""Order id -> slot index: an open-addressing hash table in two numpy arrays.

Every accepted id stays in the table for the life of the exchange (a reused id is
rejected even after its order ended); an ended order maps to -1. Keys are positive,
so 0 marks an empty bucket. Linear probing; the caller keeps the load at or below
one half by growing (``rehash``) before an insert could pass it. Lookup and insert
are O(1) expected.

For dense ids (a batch whose ids run from 1 to about the number of orders) a direct
array indexed by id comes first: ``direct[id]`` is 0 for an id never accepted, -1 once
its order ended, slot + 1 while it rests. Ids at or above ``len(direct)`` use the hash.
The split is fixed for the life of a state, so no id ever moves between the two.
``lookup``, ``accept`` and ``assign`` hide which one holds an id.

Ids usually arrive in increasing order, so the hash keeps each run of 8 consecutive
ids in one 64-byte line and scatters the runs (Fibonacci hashing of ``id >> 3``):
a stream of new orders then costs one cache miss per 8 ids instead of one each.
"""
import numpy as np

from exchange.nb.kernel import helper, kernel

EMPTY = 0
ENDED = -1
NEVER = -2
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


@helper
def lookup(direct, keys, slots, order_id):
    """Slot of the resting order ``order_id``; ENDED for an id used before; NEVER for a new id."""
    if order_id < direct.shape[0]:
        value = direct[order_id]
        if value == 0:
            return NEVER
        return value - 1 if value > 0 else ENDED
    bucket = find(keys, order_id)
    return NEVER if bucket == -1 else slots[bucket]


@helper
def accept(direct, keys, slots, order_id):
    """Mark a new id used (its order not resting yet); returns 1 if the hash took it."""
    if order_id < direct.shape[0]:
        direct[order_id] = -1
        return 0
    insert(keys, slots, order_id, ENDED)
    return 1


@helper
def assign(direct, keys, slots, order_id, slot):
    """Record where a used id's order rests (or ENDED)."""
    if order_id < direct.shape[0]:
        direct[order_id] = slot + 1 if slot >= 0 else -1
    else:
        slots[find(keys, order_id)] = slot
