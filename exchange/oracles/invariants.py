"""An invariant checker over the kernel's arrays, for tests to call after every step.

``check(state, config)`` walks the whole book in plain Python (slow, thorough) and
raises AssertionError naming the first broken invariant:

* every resting order sits in exactly one level queue, linked both ways, in
  arrival order, with positive open quantity within max_qty and its price in band;
  its tif is one that rests (gtc, post_only) and its stp mode a known one;
* occupancy bits, queue tails and best levels agree with the queues;
* slots in use plus free slots account for every slot ever used;
* the id index (direct table and hash) maps each resting order's id to its slot, and
  no other id to a slot;
* once the ask lists are kept (from the first regrade on), each provider's list holds
  exactly its resting asks, all in its grade's ladder; before, no list has begun;
* no compatible crossing pair rests (docs/RULES.md §4): for every ask grade g and bid
  min_grade m admitting it, best_bid_m * f_g < best_ask_g * 10000.
"""
from __future__ import annotations

import numpy as np

from exchange.config import ExchangeConfig
from exchange.nb.layout import (
    BIT_LAYERS, C_ASK_LISTS, C_FREE, C_HWM, C_IDS, C_LIVE, I_MAX, I_MAX_QTY, I_MIN, L_ANCHOR, L_BASE, L_BEST, L_BITS,
    L_INSTRUMENT, L_NLEVELS, L_SIDE, L_SIGN, L_WORDS, P_ASK_HEAD, P_GRADE, STP_SHIFT,
    TIF_MASK,
)
from exchange.schema import BP, BUY, GTC, POST_ONLY, SELL, STP_CANCEL_BOTH, STP_CANCEL_INCOMING
from exchange.state import BookState


def check(state: BookState, config: ExchangeConfig) -> None:
    orders, ladders = state.orders, state.ladders
    counters = state.counters
    n_grades = len(config.grades)
    seen: dict[int, int] = {}  # slot -> ladder
    for ladder in range(ladders.shape[0]):
        base, n = int(ladders[ladder, L_BASE]), int(ladders[ladder, L_NLEVELS])
        instrument = int(ladders[ladder, L_INSTRUMENT])
        heads = state.levels["head"][base: base + n] - 1  # stored as slot + 1
        occupied = np.flatnonzero(heads != -1)
        occupied = occupied.tolist()
        for level in occupied:
            slot, prev, last_arrival = int(heads[level]), -1, -1
            while slot != -1:
                assert slot not in seen, f"slot {slot} is in two queues"
                seen[slot] = ladder
                assert orders[slot]["prev"] == prev, f"slot {slot}: broken prev link"
                assert orders[slot]["ladder"] == ladder and orders[slot]["level"] == level, (
                    f"slot {slot}: ladder/level fields disagree with its queue")
                arrival = int(orders[slot]["arrival"])
                assert arrival > last_arrival, f"slot {slot}: queue out of arrival order"
                last_arrival = arrival
                open_qty = int(orders[slot]["open"])
                assert 0 < open_qty <= state.instruments[instrument, I_MAX_QTY], (
                    f"order {orders[slot]['id']}: open quantity {open_qty}")
                modes = int(orders[slot]["modes"])
                assert modes & TIF_MASK in (GTC, POST_ONLY), f"order {orders[slot]['id']}: tif {modes & TIF_MASK}"
                assert STP_CANCEL_INCOMING <= modes >> STP_SHIFT <= STP_CANCEL_BOTH, (
                    f"order {orders[slot]['id']}: stp {modes >> STP_SHIFT}")
                prev, slot = slot, int(orders[slot]["next"])
            assert state.levels[base + level]["tail"] - 1 == prev, f"ladder {ladder} level {level}: bad tail"
        mask = heads != -1
        for layer in range(BIT_LAYERS):  # a bit is set iff its level (or word below) is occupied
            start = int(ladders[ladder, L_BITS + layer])
            words = state.bits[start: start + int(ladders[ladder, L_WORDS + layer])]
            bitmap = np.unpackbits(words.view(np.uint8), bitorder="little").astype(bool)
            assert not bitmap[len(mask):].any(), f"ladder {ladder}: bit set past the end, layer {layer}"
            assert np.array_equal(bitmap[: len(mask)], mask), f"ladder {ladder}: bitset layer {layer} wrong"
            mask = words != 0
        assert ladders[ladder, L_BEST] == (occupied[0] if occupied else n), f"ladder {ladder}: best level"
        if occupied:
            anchor, sign = ladders[ladder, L_ANCHOR], ladders[ladder, L_SIGN]
            price = int(anchor + sign * occupied[-1])
            price_best = int(anchor + sign * occupied[0])
            for p in (price, price_best):
                assert state.instruments[instrument, I_MIN] <= p <= state.instruments[instrument, I_MAX], (
                    f"ladder {ladder}: price {p} outside the band")

    assert len(seen) == counters[C_LIVE], "resting order count"
    free, slot = 0, int(counters[C_FREE])
    while slot != -1:
        assert slot not in seen, f"slot {slot} both free and resting"
        free += 1
        slot = int(orders[slot]["next"])
    assert free + len(seen) == counters[C_HWM], "slots lost: free + resting != slots used"

    used = state.id_keys != 0
    assert int(used.sum()) == counters[C_IDS], "id count"
    assert not np.any(state.id_keys[used] < len(state.id_direct)), "an id below the direct table is hashed"
    live_ids = {int(k): int(s) for k, s in zip(state.id_keys[used], state.id_slots[used]) if s >= 0}
    live_direct = np.flatnonzero(state.id_direct > 0)
    live_ids.update(zip(live_direct.tolist(), (state.id_direct[live_direct] - 1).tolist()))
    assert live_ids == {int(orders[s]["id"]): s for s in seen}, "id index disagrees with the book"

    if not counters[C_ASK_LISTS]:  # not kept before the first regrade: no list has begun
        assert np.all(state.parties[P_ASK_HEAD] == -1), "an ask list begun while the lists are not kept"
    for party in range(state.parties.shape[1] if counters[C_ASK_LISTS] else 0):
        grade = int(state.parties[P_GRADE, party])
        slot, asks = int(state.parties[P_ASK_HEAD, party]), set()
        while slot != -1:
            asks.add(slot)
            slot = int(orders[slot]["party_next"])
        expected = {s for s, lad in seen.items()
                    if ladders[lad, L_SIDE] == SELL and orders[s]["party"] == party}
        assert asks == expected, f"party {party}: ask list disagrees with the book"
        for s in asks:
            assert int(orders[s]["ladder"]) % n_grades == grade, f"party {party}: ask outside its grade"

    for instrument in range(len(config.instruments)):
        for g in range(n_grades):
            ask = (instrument * 2 + SELL) * n_grades + g
            if ladders[ask, L_BEST] >= ladders[ask, L_NLEVELS]:
                continue
            pa = int(ladders[ask, L_ANCHOR] + ladders[ask, L_BEST])
            for m in range(g, n_grades):
                bid = (instrument * 2 + BUY) * n_grades + m
                if ladders[bid, L_BEST] >= ladders[bid, L_NLEVELS]:
                    continue
                pb = int(ladders[bid, L_ANCHOR] - ladders[bid, L_BEST])
                assert pb * config.grades[g].floor_bp < pa * BP, (
                    f"instrument {instrument}: bid {pb} (min_grade {m}) crosses ask {pa} (grade {g})")
