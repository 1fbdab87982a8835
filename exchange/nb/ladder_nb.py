"""Price ladders: FIFO queues per price level, and fast best-price tracking.

A ladder is one (instrument, side, grade) book: an array of price levels indexed
so that level 0 is the side's best price. Each level holds a doubly linked FIFO of
order slots; ``levels`` stores its ends as slot + 1, so 0 means empty and a
ladder that was never used stays in zero pages the OS has not even allocated. A four-layer occupancy bitset (64-way) finds the next non-empty level
in O(log64 levels) word operations, so best-price tracking stays fast when a level
empties or the price jumps across thousands of ticks.

Costs: enqueue O(1); dequeue O(1) plus O(log64 n) when the best level empties;
next_level O(log64 n).
"""
import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from exchange.nb.kernel import helper, kernel
from exchange.nb.layout import (
    BIT_LAYERS, K_LADDER, K_LEVEL, K_SLOT, L_ANCHOR, L_BASE, L_BEST, L_BITS,
    L_DEN, L_NLEVELS, L_SIGN, L_WORDS,
)

_ONE = np.uint64(1)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


@helper
def _bit(index):
    return _ONE << np.uint64(index & 63)


@helper
def bits_set(bits, ladders, ladder, level):
    """Mark ``level`` non-empty; stop at the first word that already had a bit set, since
    every layer above it is already marked (most of the time, layer 0's word)."""
    index = level
    for layer in range(BIT_LAYERS):
        word = ladders[ladder, L_BITS + layer] + (index >> 6)
        before = bits[word]
        bits[word] = before | _bit(index)
        if before != 0:
            return
        index >>= 6


@helper
def bits_clear(bits, ladders, ladder, level):
    """Mark ``level`` empty; clear upper layers only where a whole word emptied."""
    index = level
    for layer in range(BIT_LAYERS):
        word = ladders[ladder, L_BITS + layer] + (index >> 6)
        bits[word] &= ~_bit(index)
        if bits[word] != 0:
            return
        index >>= 6


@kernel
def next_level(bits, ladders, ladder, start):
    """Lowest non-empty level index >= ``start``, or NLEVELS when there is none."""
    n = ladders[ladder, L_NLEVELS]
    if start >= n:
        return n
    index = start
    layer = 0
    while True:
        w = index >> 6
        if w >= ladders[ladder, L_WORDS + layer]:
            return n
        word = bits[ladders[ladder, L_BITS + layer] + w] & (_ALL << np.uint64(index & 63))
        if word != 0:
            index = (w << 6) + np.int64(trailing_zeros(word))
            while layer > 0:  # descend to the lowest set bit below
                layer -= 1
                below = bits[ladders[ladder, L_BITS + layer] + index]
                index = (index << 6) + np.int64(trailing_zeros(below))
            return index
        if layer == BIT_LAYERS - 1:
            return n
        index = w + 1
        layer += 1


@helper
def level_head(levels, g):
    """First slot at global level g, or -1 when the level is empty."""
    return levels[g].head - 1


@kernel
def level_open_qty(orders, levels, g):
    """Open quantity of the orders at global level g, for the depth query: a walk of its
    queue, O(orders there)."""
    total = 0
    slot = level_head(levels, g)
    while slot != -1:
        total += orders[slot].open
        slot = orders[slot].next
    return total


@helper
def level_price(ladders, ladder, level):
    """Price in ticks of a level (raw for asks, effective for bids)."""
    return ladders[ladder, L_ANCHOR] + ladders[ladder, L_SIGN] * level


@helper
def price_level(ladders, ladder, price):
    """Level index of a price in ticks (the inverse of level_price)."""
    return ladders[ladder, L_SIGN] * (price - ladders[ladder, L_ANCHOR])


@helper
def enqueue(orders, ladders, levels, bits, slot, ladder, level):
    """Append a slot at the tail of its level (it becomes the last to arrive)."""
    g = ladders[ladder, L_BASE] + level
    orders[slot].ladder = ladder
    orders[slot].level = level
    orders[slot].next = -1
    tail = levels[g].tail - 1
    orders[slot].prev = tail
    if tail == -1:
        levels[g].head = slot + 1
        bits_set(bits, ladders, ladder, level)
        if level < ladders[ladder, L_BEST]:
            ladders[ladder, L_BEST] = level
    else:
        orders[tail].next = slot
    levels[g].tail = slot + 1


@helper
def dequeue(orders, ladders, levels, bits, slot):
    """Unlink a slot from its level, keeping the best level current."""
    ladder = orders[slot].ladder
    level = orders[slot].level
    g = ladders[ladder, L_BASE] + level
    prev = orders[slot].prev
    nxt = orders[slot].next
    if prev == -1:
        levels[g].head = nxt + 1
    else:
        orders[prev].next = nxt
    if nxt == -1:
        levels[g].tail = prev + 1
    else:
        orders[nxt].prev = prev
    if prev == -1 and nxt == -1:
        bits_clear(bits, ladders, ladder, level)
        if level == ladders[ladder, L_BEST]:
            ladders[ladder, L_BEST] = next_level(bits, ladders, ladder, level + 1)


# ------------------------------------------------------------- merge walks
# A walk visits the resting orders of several ladders of one side (the grades a
# counter-order may meet) in priority order without changing them: one cursor per
# ladder, and at each step the cursor whose order ranks first. A cursor stands on a
# level; which order there it points at is looked up only when asked (``cursor_slot``):
# ranking needs the level's price alone, and the arrival of its first order only when
# two ladders offer the same effective price. A walk that stops at the first price,
# the usual fate of an order that does not cross, reads no order and no queue.


@helper
def _cursor_to_level(cursors, k, level):
    """Point cursor k at ``level`` of its ladder (past the last level: exhausted); its
    order there is looked up when first asked for."""
    cursors[K_LEVEL, k] = level
    cursors[K_SLOT, k] = -1


@helper
def cursor_slot(cursors, ladders, levels, k):
    """The order cursor k points at (k not exhausted): the head of its level unless
    the walk already moved along that level's queue."""
    slot = cursors[K_SLOT, k]
    if slot == -1:
        ladder = cursors[K_LADDER, k]
        slot = level_head(levels, ladders[ladder, L_BASE] + cursors[K_LEVEL, k])
        cursors[K_SLOT, k] = slot
    return slot


@helper
def cursors_open(cursors, ladders, first_ladder, count):
    """Point ``count`` cursors at the best levels of ladders first_ladder..+count-1."""
    for k in range(count):
        ladder = first_ladder + k
        cursors[K_LADDER, k] = ladder
        _cursor_to_level(cursors, k, ladders[ladder, L_BEST])


@helper
def cursor_advance(cursors, orders, ladders, bits, k):
    """Move cursor k past its order (looked up by ``cursor_slot``) in priority order."""
    cursor_follow(cursors, ladders, bits, k, orders[cursors[K_SLOT, k]].next)


@helper
def cursor_follow(cursors, ladders, bits, k, nxt):
    """Move cursor k to ``nxt``, the order after its own in its level (-1: there is none,
    so on to the next level)."""
    if nxt != -1:
        cursors[K_SLOT, k] = nxt
        return
    ladder = cursors[K_LADDER, k]
    _cursor_to_level(cursors, k, next_level(bits, ladders, ladder, cursors[K_LEVEL, k] + 1))


@helper
def cursors_pick(cursors, orders, ladders, levels, count):
    """The cursor whose order ranks first, or -1 when all are exhausted.

    Rank: lower ``sign * price / den`` (asks: lower effective price; bids: higher
    price), compared as integers by cross-multiplying, then earlier arrival (read
    only for equal prices)."""
    best = -1
    best_num = 0
    best_den = 1
    for k in range(count):
        ladder = cursors[K_LADDER, k]
        level = cursors[K_LEVEL, k]
        if level >= ladders[ladder, L_NLEVELS]:
            continue
        num = ladders[ladder, L_SIGN] * level_price(ladders, ladder, level)
        den = ladders[ladder, L_DEN]
        if best == -1:
            better = True
        else:
            lhs = num * best_den
            rhs = best_num * den
            better = lhs < rhs
            if lhs == rhs:
                mine = orders[cursor_slot(cursors, ladders, levels, k)].arrival
                theirs = orders[cursor_slot(cursors, ladders, levels, best)].arrival
                better = mine < theirs
        if better:
            best = k
            best_num = num
            best_den = den
    return best
