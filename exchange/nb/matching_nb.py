"""The matching kernels: one compiled core for every action of docs/RULES.md §4.

State travels as one tuple of arrays, ``book`` (see ``state.BookState.arrays``):

    (orders, ladders, levels, bits, cursors,
     instruments, grade_floor, parties, id_keys, id_slots, counters, id_direct)

and output as ``out = (events, trades)``. Buy and sell share every code path: the
side picks which ladders an order meets, and ``cross`` compares the bid and the
ask as integers (``bid * factor >= ask * 10000``). Market refusals become REJECTED
events; the kernels raise nothing.
"""
import numpy as np

from exchange.nb import orderids_nb as ids
from exchange.nb.kernel import helper, kernel
from exchange.nb.prefetch_nb import prefetch
from exchange.nb.ladder_nb import (
    cursor_advance, cursor_follow, cursor_slot, cursors_open, cursors_pick, dequeue, enqueue, level_head, level_price,
    next_level, price_level,
)
from exchange.nb.layout import (
    C_ASK_LISTS, C_EVENT_COUNT, C_FREE, C_HWM, C_IDS, C_LIVE, C_MAX_ID, C_TRADE_COUNT, C_TRADES, DONE,
    I_CLOSED, I_MAX, I_MAX_QTY, I_MIN, I_UNITS_PER_TICK, K_LADDER, K_LEVEL, L_BASE, L_BEST, L_BITS, L_DEN, L_GRADE,
    L_INSTRUMENT, L_NLEVELS, L_SIDE, NEED_EVENTS, NEED_IDS, NEED_SLOTS, NEED_TRADES,
    P_ASK_HEAD, P_GOODPUT, P_GRADE, STP_SHIFT, TIF_MASK,
    B_BITS, B_COUNTERS, B_CURSORS, B_GRADE_FLOOR, B_ID_DIRECT, B_ID_KEYS, B_ID_SLOTS, B_INSTRUMENTS,
    B_LADDERS, B_LEVELS, B_ORDERS, B_PARTIES,
)
from exchange.schema import (
    ACT_CANCEL, ACT_CLOSE, ACT_GRADE, ACT_NEW, ACT_REPLACE, BP, BUY, EV_ACCEPTED, EV_CANCELED,
    EV_FILL, EV_REJECTED, EV_REPLACED, FOK, GRADE_ABSENT, GRADE_UNKNOWN, IOC, MARKET, NO_VALUE,
    NOT_A_PROVIDER, POST_ONLY, PRICE_ABSENT, PRICE_OK, R_BAD_FIELD, R_BAD_GRADE, R_BAD_PRICE,
    R_BAD_QTY, R_CLOSED, R_DUPLICATE_ID, R_FOK, R_INSTRUMENT_CLOSED, R_IOC, R_NONE,
    R_NOT_A_PROVIDER, R_NOT_OWNER, R_PROVIDER_UNGRADED, R_REGRADED, R_SELF_TRADE,
    R_UNKNOWN_INSTRUMENT, R_UNKNOWN_ORDER, R_WOULD_CROSS, SELL, STP_CANCEL_BOTH,
    STP_CANCEL_INCOMING,
)


# ------------------------------------------------------------------ output
@helper
def emit(out, counters, seq, ts, order_id, kind, reason, qty, leaves, trade_id):
    """Append one event record to the output buffer (the caller checked there is room)."""
    events = out[0]
    n = counters[C_EVENT_COUNT]
    e = events[n]
    e.seq = seq
    e.ts = ts
    e.order_id = order_id
    e.event = kind
    e.reason = reason
    e.qty = qty
    e.leaves_qty = leaves
    e.trade_id = trade_id
    counters[C_EVENT_COUNT] = n + 1


@helper
def _reject(out, counters, a, reason):
    emit(out, counters, a.seq, a.ts, a.order_id, EV_REJECTED, reason, a.qty, NO_VALUE, 0)


@helper
def _record_trade(out, counters, seq, ts, instrument, aggressor, buy_id, sell_id, buyer, seller,
                  grade, price, qty):
    trades = out[1]
    trade_id = counters[C_TRADES] + 1
    counters[C_TRADES] = trade_id
    n = counters[C_TRADE_COUNT]
    t = trades[n]
    t.trade_id = trade_id
    t.seq = seq
    t.ts = ts
    t.instrument = instrument
    t.buy_order_id = buy_id
    t.sell_order_id = sell_id
    t.buyer = buyer
    t.seller = seller
    t.grade = grade
    t.price = price
    t.qty = qty
    t.aggressor = aggressor
    counters[C_TRADE_COUNT] = n + 1
    return trade_id


# ------------------------------------------------------------ order slots
@helper
def ladder_of(grade_floor, instrument, side, tier):
    """Ladder id of (instrument, side, grade) -- ``tier`` is the min_grade for bids."""
    return (instrument * 2 + side) * grade_floor.shape[0] + tier


@helper
def cross(bid_price, ask_price, factor):
    """Does a bid (effective ticks) meet an ask (raw ticks) of grade ``factor`` bp?"""
    return bid_price * factor >= ask_price * BP


# ------------------------------------------------------- providers' asks
# A regrade cancels all of one provider's resting asks (docs/RULES.md §4), so each
# provider's asks can be kept on a list threaded through their slots. Nothing else
# needs the lists, and keeping them costs every resting and ending ask up to three
# scattered writes, so they are built at the first regrade that changes a grade
# (one walk over the resting asks) and kept from then on (counters[C_ASK_LISTS]).


@helper
def _link_ask(orders, parties, slot, party):
    head = parties[P_ASK_HEAD, party]
    orders[slot].party_prev = -1
    orders[slot].party_next = head
    if head != -1:
        orders[head].party_prev = slot
    parties[P_ASK_HEAD, party] = slot


@helper
def _unlink_ask(orders, parties, slot):
    prev = orders[slot].party_prev
    nxt = orders[slot].party_next
    if prev == -1:
        parties[P_ASK_HEAD, orders[slot].party] = nxt
    else:
        orders[prev].party_next = nxt
    if nxt != -1:
        orders[nxt].party_prev = prev


@kernel
def keep_ask_lists(book):
    """Put every resting ask on its provider's list and keep the lists from now on.
    Cost: O(resting asks + their levels), once per state."""
    orders, ladders, levels, bits, parties, counters = (
        book[B_ORDERS], book[B_LADDERS], book[B_LEVELS], book[B_BITS], book[B_PARTIES], book[B_COUNTERS])
    if counters[C_ASK_LISTS] != 0:
        return
    for ladder in range(ladders.shape[0]):
        if ladders[ladder, L_SIDE] != SELL:
            continue
        level = ladders[ladder, L_BEST]
        while level < ladders[ladder, L_NLEVELS]:
            slot = level_head(levels, ladders[ladder, L_BASE] + level)
            while slot != -1:
                _link_ask(orders, parties, slot, orders[slot].party)
                slot = orders[slot].next
            level = next_level(bits, ladders, ladder, level + 1)
    counters[C_ASK_LISTS] = 1


@helper
def _rest(book, slot, order_id, party, side, instrument, tier, price, qty, tif, stp, arrival):
    """Fill a slot's fields and append it to its level; an ask also joins its provider's
    list while the lists are kept. The stp mode is kept beside the tif (one int32)
    because a re-arrival needs it."""
    orders, ladders, levels, bits = book[B_ORDERS], book[B_LADDERS], book[B_LEVELS], book[B_BITS]
    grade_floor, parties, counters = book[B_GRADE_FLOOR], book[B_PARTIES], book[B_COUNTERS]
    orders[slot].id = order_id
    orders[slot].open = qty
    orders[slot].arrival = arrival
    orders[slot].party = party
    orders[slot].modes = tif | (stp << STP_SHIFT)
    ladder = ladder_of(grade_floor, instrument, side, tier)
    enqueue(orders, ladders, levels, bits, slot, ladder,
            price_level(ladders, ladder, price))
    if side == SELL and counters[C_ASK_LISTS] != 0:
        _link_ask(orders, parties, slot, party)
    counters[C_LIVE] += 1


@helper
def _end(book, slot):
    """Take a resting order off the book for good: unlink, free its slot, end its id."""
    orders, ladders, levels, bits = book[B_ORDERS], book[B_LADDERS], book[B_LEVELS], book[B_BITS]
    parties, id_keys, id_slots, counters, id_direct = book[B_PARTIES], book[B_ID_KEYS], book[B_ID_SLOTS], book[B_COUNTERS], book[B_ID_DIRECT]
    if counters[C_ASK_LISTS] != 0 and ladders[orders[slot].ladder, L_SIDE] == SELL:
        _unlink_ask(orders, parties, slot)
    dequeue(orders, ladders, levels, bits, slot)
    ids.assign(id_direct, id_keys, id_slots, orders[slot].id, ids.ENDED)
    orders[slot].next = counters[C_FREE]
    counters[C_FREE] = slot
    counters[C_LIVE] -= 1


@helper
def _alloc(book):
    orders, counters = book[B_ORDERS], book[B_COUNTERS]
    slot = counters[C_FREE]
    if slot != -1:
        nxt = orders[slot].next
        counters[C_FREE] = nxt
        if nxt != -1:  # the next order to rest will take it: start loading its line
            prefetch(orders, nxt)
    else:
        slot = counters[C_HWM]
        counters[C_HWM] = slot + 1
    return slot


@helper
def _price_ticks(instruments, instrument, a):
    """The row's price in ticks of ``instrument``, or -1 when it is not a valid price there:
    absent where one is needed, not a whole number of ticks, or outside the band.
    Rows carry prices in the exchange's price unit (the gcd of all ticks), which is the
    instrument's tick in most configurations: then no division (a 64-bit division sat on
    the path of every later step; skipping it took 3% off the plain and standard mixes)."""
    if a.price_state != PRICE_OK:
        return -1
    per_tick = instruments[instrument, I_UNITS_PER_TICK]
    ticks = a.price
    if per_tick != 1:
        if ticks % per_tick != 0:
            return -1
        ticks //= per_tick
    if ticks < instruments[instrument, I_MIN] or ticks > instruments[instrument, I_MAX]:
        return -1
    return ticks


# --------------------------------------------------------------- matching
@helper
def _counter_ladders(grade_floor, side, instrument, tier):
    """The ladders an incoming order may meet: (first ladder, count).

    A buy admitting grades 0..min_grade meets those ask ladders; a sell of grade g
    meets the bid ladders whose min_grade is g or lower-ranked (g..G-1).
    """
    n_grades = grade_floor.shape[0]
    if side == BUY:
        return ladder_of(grade_floor, instrument, SELL, 0), tier + 1
    return ladder_of(grade_floor, instrument, BUY, tier), n_grades - tier


@kernel
def _would_cross(book, side, instrument, tier, price):
    """post_only check: does the best compatible counter-order cross, whatever its party?"""
    ladders, grade_floor = book[B_LADDERS], book[B_GRADE_FLOOR]
    first, count = _counter_ladders(grade_floor, side, instrument, tier)
    return _any_crosses(ladders, grade_floor, side, tier, price, first, count)


@helper
def _any_crosses(ladders, grade_floor, side, tier, price, first, count):
    """Does the best level of any of ladders first..first+count-1 cross ``price``?
    Equivalently: does the best-ranked of them (a merge walk's first pick) cross, since
    ranking is by effective price and crossing is monotone in it. Without the walk's
    cursors, the check that stops most limit orders costs 5% less of the plain and
    standard mixes (a load and a compare per ladder)."""
    for ladder in range(first, first + count):
        best = ladders[ladder, L_BEST]
        if best < ladders[ladder, L_NLEVELS]:
            counter_price = level_price(ladders, ladder, best)
            if side == BUY:
                if cross(price, counter_price, ladders[ladder, L_DEN]):
                    return True
            elif cross(counter_price, price, grade_floor[tier]):
                return True
    return False


@helper
def _match(book, out, seq, ts, order_id, party, side, instrument, tier, price, is_market, qty,
           stp, dry_run):
    """Meet counter-orders in priority order; returns (remaining, stopped_by_self_trade).

    An own order met (compatible and crossing) follows ``stp`` (docs/RULES.md §4): cancel_incoming
    stops; cancel_resting cancels it (SELF_TRADE, whole open quantity) and goes on;
    cancel_both cancels it and stops. With ``dry_run`` nothing changes: the walk only
    counts what would fill (FOK), walking past own orders under cancel_resting and
    stopping at them otherwise. O(orders met); an own order costs one branch. A limit order
    that crosses nothing (``_any_crosses``) returns before the walk opens its cursors.
    """
    orders, ladders, levels, bits, cursors = (
        book[B_ORDERS], book[B_LADDERS], book[B_LEVELS], book[B_BITS], book[B_CURSORS])
    grade_floor, counters = book[B_GRADE_FLOOR], book[B_COUNTERS]
    first, count = _counter_ladders(grade_floor, side, instrument, tier)
    if not is_market and not _any_crosses(ladders, grade_floor, side, tier, price, first, count):
        return qty, False  # the usual fate of a limit order: no walk at all
    cursors_open(cursors, ladders, first, count)
    remaining = qty
    while remaining > 0:
        k = cursors_pick(cursors, orders, ladders, levels, count)
        if k == -1:
            break
        ladder = cursors[K_LADDER, k]
        counter_price = level_price(ladders, ladder, cursors[K_LEVEL, k])
        if side == BUY:
            bid, ask, grade = price, counter_price, ladders[ladder, L_GRADE]
        else:
            bid, ask, grade = counter_price, price, tier
        factor = grade_floor[grade]
        if not is_market and not cross(bid, ask, factor):
            break
        slot = cursor_slot(cursors, ladders, levels, k)
        if orders[slot].party == party:
            if stp == STP_CANCEL_INCOMING or (dry_run and stp == STP_CANCEL_BOTH):
                return remaining, True
            cursor_advance(cursors, orders, ladders, bits, k)
            if dry_run:  # cancel_resting: the check walks past it
                continue
            own_id = orders[slot].id
            own_open = orders[slot].open
            _end(book, slot)
            emit(out, counters, seq, ts, own_id, EV_CANCELED, R_SELF_TRADE, own_open, 0, 0)
            if stp == STP_CANCEL_BOTH:
                return remaining, True
            continue
        resting_open = orders[slot].open
        fill = min(remaining, resting_open)
        remaining -= fill
        if dry_run:
            cursor_advance(cursors, orders, ladders, bits, k)
            continue
        # A resting ask trades at its raw price; a resting bid at floor(bid * f / 10000).
        trade_price = counter_price if side == BUY else (counter_price * factor) // BP
        resting_id = orders[slot].id
        resting_party = orders[slot].party
        if side == BUY:
            trade_id = _record_trade(out, counters, seq, ts, instrument, side, order_id, resting_id,
                                     party, resting_party, grade, trade_price, fill)
        else:
            trade_id = _record_trade(out, counters, seq, ts, instrument, side, resting_id, order_id,
                                     resting_party, party, grade, trade_price, fill)
        emit(out, counters, seq, ts, order_id, EV_FILL, R_NONE, fill, remaining, trade_id)
        emit(out, counters, seq, ts, resting_id, EV_FILL, R_NONE, fill, resting_open - fill, trade_id)
        if fill == resting_open:
            cursor_advance(cursors, orders, ladders, bits, k)
            _end(book, slot)
        else:
            orders[slot].open = resting_open - fill
    return remaining, False


@helper
def _execute(book, out, seq, ts, order_id, party, side, instrument, tier, price, is_market, tif,
             stp, qty):
    """An accepted (or re-arriving) order meets the book, then rests or is cancelled."""
    id_keys, id_slots, counters, id_direct = book[B_ID_KEYS], book[B_ID_SLOTS], book[B_COUNTERS], book[B_ID_DIRECT]
    if tif == FOK and not is_market:
        short, _ = _match(book, out, seq, ts, order_id, party, side, instrument, tier, price,
                          False, qty, stp, True)
        if short > 0:
            emit(out, counters, seq, ts, order_id, EV_CANCELED, R_FOK, qty, 0, 0)
            return
    remaining, self_trade = _match(book, out, seq, ts, order_id, party, side, instrument, tier,
                                   price, is_market, qty, stp, False)
    if remaining == 0:
        return
    if self_trade:
        emit(out, counters, seq, ts, order_id, EV_CANCELED, R_SELF_TRADE, remaining, 0, 0)
    elif is_market or tif == IOC or tif == FOK:
        emit(out, counters, seq, ts, order_id, EV_CANCELED, R_IOC, remaining, 0, 0)
    else:
        slot = _alloc(book)
        _rest(book, slot, order_id, party, side, instrument, tier, price, remaining, tif, stp, seq)
        ids.assign(id_direct, id_keys, id_slots, order_id, slot)


# ---------------------------------------------------------------- actions
@helper
def on_new(book, out, a):
    instruments, grade_floor, parties, id_keys, id_slots, counters = (
        book[B_INSTRUMENTS], book[B_GRADE_FLOOR], book[B_PARTIES], book[B_ID_KEYS], book[B_ID_SLOTS], book[B_COUNTERS])
    n_grades = grade_floor.shape[0]
    stp = a.stp  # an Stp code: every way in (files, submit, apply, run_batch) checks it
    instrument = a.instrument
    if instrument < 0:
        return _reject(out, counters, a, R_UNKNOWN_INSTRUMENT)
    if instruments[instrument, I_CLOSED] != 0:
        return _reject(out, counters, a, R_INSTRUMENT_CLOSED)
    id_direct = book[B_ID_DIRECT]
    if ids.lookup(id_direct, id_keys, id_slots, a.order_id) != ids.NEVER:
        return _reject(out, counters, a, R_DUPLICATE_ID)
    side = a.side
    if side == SELL:
        tier = parties[P_GRADE, a.party]
        if tier == NOT_A_PROVIDER:
            return _reject(out, counters, a, R_NOT_A_PROVIDER)
        if tier >= n_grades:
            return _reject(out, counters, a, R_PROVIDER_UNGRADED)
        if a.min_grade != GRADE_ABSENT:
            return _reject(out, counters, a, R_BAD_GRADE)
    else:
        if a.min_grade == GRADE_UNKNOWN:
            return _reject(out, counters, a, R_BAD_GRADE)
        tier = n_grades - 1 if a.min_grade == GRADE_ABSENT else np.int64(a.min_grade)
    qty = a.qty
    if qty < 1 or qty > instruments[instrument, I_MAX_QTY]:
        return _reject(out, counters, a, R_BAD_QTY)
    is_market = a.order_type == MARKET
    price = 0
    if is_market:
        if a.price_state != PRICE_ABSENT:
            return _reject(out, counters, a, R_BAD_PRICE)
    else:
        price = _price_ticks(instruments, instrument, a)
        if price < 0:
            return _reject(out, counters, a, R_BAD_PRICE)
    if not is_market and a.tif == POST_ONLY and _would_cross(book, side, instrument, tier, price):
        return _reject(out, counters, a, R_WOULD_CROSS)
    counters[C_IDS] += ids.accept(id_direct, id_keys, id_slots, a.order_id)
    counters[C_MAX_ID] = max(counters[C_MAX_ID], a.order_id)
    emit(out, counters, a.seq, a.ts, a.order_id, EV_ACCEPTED, R_NONE, qty, qty, 0)
    _execute(book, out, a.seq, a.ts, a.order_id, a.party, side, instrument, tier, price,
             is_market, a.tif, stp, qty)


@helper
def _resting_slot(book, out, a):
    """Slot of the resting order a cancel/replace names, or -1 after rejecting it."""
    orders, id_keys, id_slots, counters = book[B_ORDERS], book[B_ID_KEYS], book[B_ID_SLOTS], book[B_COUNTERS]
    slot = ids.lookup(book[B_ID_DIRECT], id_keys, id_slots, a.order_id)
    if slot < 0:
        _reject(out, counters, a, R_UNKNOWN_ORDER)
        return -1
    if orders[slot].party != a.party:
        _reject(out, counters, a, R_NOT_OWNER)
        return -1
    return slot


@helper
def on_cancel(book, out, a):
    slot = _resting_slot(book, out, a)
    if slot == -1:
        return
    open_qty = book[B_ORDERS][slot].open
    _end(book, slot)
    emit(out, book[B_COUNTERS], a.seq, a.ts, a.order_id, EV_CANCELED, R_NONE, open_qty, 0, 0)


@helper
def on_replace(book, out, a):
    slot = _resting_slot(book, out, a)
    if slot == -1:
        return
    orders, ladders = book[B_ORDERS], book[B_LADDERS]
    instruments, counters = book[B_INSTRUMENTS], book[B_COUNTERS]
    ladder = orders[slot].ladder
    instrument = ladders[ladder, L_INSTRUMENT]
    open_qty = orders[slot].open
    new_qty = open_qty
    if a.qty != NO_VALUE:
        if a.qty < 1 or a.qty > instruments[instrument, I_MAX_QTY]:
            return _reject(out, counters, a, R_BAD_QTY)
        new_qty = a.qty
    old_price = level_price(ladders, ladder, orders[slot].level)
    new_price = old_price
    if a.price_state != PRICE_ABSENT:
        new_price = _price_ticks(instruments, instrument, a)
        if new_price < 0:
            return _reject(out, counters, a, R_BAD_PRICE)
    if new_price == old_price and new_qty <= open_qty:  # keeps its place in the queue
        orders[slot].open = new_qty
        emit(out, counters, a.seq, a.ts, a.order_id, EV_REPLACED, R_NONE, new_qty, new_qty, 0)
        return
    side = ladders[ladder, L_SIDE]
    tier = ladders[ladder, L_GRADE]
    tif = orders[slot].modes & TIF_MASK
    stp = orders[slot].modes >> STP_SHIFT  # a re-arrival keeps its order's mode
    if tif == POST_ONLY and _would_cross(book, side, instrument, tier, new_price):
        return _reject(out, counters, a, R_WOULD_CROSS)
    party = orders[slot].party
    _end(book, slot)  # a fresh arrival under the same id, at this row's seq
    emit(out, counters, a.seq, a.ts, a.order_id, EV_REPLACED, R_NONE, new_qty, new_qty, 0)
    _execute(book, out, a.seq, a.ts, a.order_id, party, side, instrument, tier, new_price,
             False, tif, stp, new_qty)


@helper
def grade_of(grade_floor, goodput_bp):
    """Best grade whose floor is at or below the goodput; G when ungraded."""
    for g in range(grade_floor.shape[0]):
        if grade_floor[g] <= goodput_bp:
            return g
    return grade_floor.shape[0]


@kernel
def on_grade(book, out, a):
    """Register or regrade a provider; a change of grade cancels its resting asks."""
    orders, grade_floor, parties, counters = book[B_ORDERS], book[B_GRADE_FLOOR], book[B_PARTIES], book[B_COUNTERS]
    party = a.party
    old = parties[P_GRADE, party]
    new = grade_of(grade_floor, a.goodput)
    parties[P_GOODPUT, party] = a.goodput
    parties[P_GRADE, party] = new
    if old == new:
        return
    keep_ask_lists(book)
    if parties[P_ASK_HEAD, party] == -1:
        return
    # Instruments in config order, each in priority order: all of one provider's asks
    # share its grade's ladder, so priority is (instrument, level, arrival). The slots to
    # sort go into the first ``count`` records' spare field (count <= live <= slots).
    count = 0
    slot = parties[P_ASK_HEAD, party]
    while slot != -1:
        orders[count].spare = slot
        count += 1
        slot = orders[slot].party_next
    _heapsort_by_priority(orders, count, book[B_LADDERS])
    for i in range(count):
        slot = orders[i].spare
        open_qty = orders[slot].open
        order_id = orders[slot].id
        _end(book, slot)
        emit(out, counters, a.seq, a.ts, order_id, EV_CANCELED, R_REGRADED, open_qty, 0, 0)


@kernel
def _ranks_before(orders, ladders, s, t):
    """Does ask slot s come before ask slot t: (instrument, level, arrival)?"""
    inst_s = ladders[orders[s].ladder, L_INSTRUMENT]
    inst_t = ladders[orders[t].ladder, L_INSTRUMENT]
    if inst_s != inst_t:
        return inst_s < inst_t
    if orders[s].level != orders[t].level:
        return orders[s].level < orders[t].level
    return orders[s].arrival < orders[t].arrival


@kernel
def _sift_down(orders, root, end, ladders):
    while 2 * root + 1 < end:
        child = 2 * root + 1
        if child + 1 < end and _ranks_before(orders, ladders, orders[child].spare, orders[child + 1].spare):
            child += 1
        if not _ranks_before(orders, ladders, orders[root].spare, orders[child].spare):
            return
        _swap_spare(orders, root, child)
        root = child


@helper
def _swap_spare(orders, i, j):
    kept = orders[i].spare
    orders[i].spare = orders[j].spare
    orders[j].spare = kept


@kernel
def _heapsort_by_priority(orders, count, ladders):
    """Sort the slots in orders[:count].spare in place by priority, O(k log k), no allocation."""
    for start in range(count // 2 - 1, -1, -1):
        _sift_down(orders, start, count, ladders)
    for end in range(count - 1, 0, -1):
        _swap_spare(orders, 0, end)
        _sift_down(orders, 0, end, ladders)


@kernel
def on_close(book, out, a):
    """End trading: cancel bids then asks, each side in priority order."""
    orders, ladders, levels, bits, cursors = book[B_ORDERS], book[B_LADDERS], book[B_LEVELS], book[B_BITS], book[B_CURSORS]
    instruments, grade_floor, counters = book[B_INSTRUMENTS], book[B_GRADE_FLOOR], book[B_COUNTERS]
    instrument = a.instrument
    if instrument < 0:
        return _reject(out, counters, a, R_UNKNOWN_INSTRUMENT)
    if instruments[instrument, I_CLOSED] != 0:
        return _reject(out, counters, a, R_INSTRUMENT_CLOSED)
    n_grades = grade_floor.shape[0]
    for side in (BUY, SELL):
        cursors_open(cursors, ladders, ladder_of(grade_floor, instrument, side, 0), n_grades)
        while True:
            k = cursors_pick(cursors, orders, ladders, levels, n_grades)
            if k == -1:
                break
            slot = cursor_slot(cursors, ladders, levels, k)
            cursor_advance(cursors, orders, ladders, bits, k)
            open_qty = orders[slot].open
            order_id = orders[slot].id
            _end(book, slot)
            emit(out, counters, a.seq, a.ts, order_id, EV_CANCELED, R_CLOSED, open_qty, 0, 0)
    instruments[instrument, I_CLOSED] = 1


# ------------------------------------------------------------------ batch
@helper
def room_needed(book, out, events_kept):
    """Which array must grow before the next action could overflow it (DONE if none),
    when the event buffer keeps its first ``events_kept`` events (a batch keeps them all;
    the njit API empties it before each action)."""
    orders, id_keys, counters = book[B_ORDERS], book[B_ID_KEYS], book[B_COUNTERS]
    live = counters[C_LIVE]
    if counters[C_FREE] == -1 and counters[C_HWM] >= orders.shape[0]:
        return NEED_SLOTS
    if 2 * (counters[C_IDS] + 1) > id_keys.shape[0]:
        return NEED_IDS
    if out[0].shape[0] - events_kept < 2 * live + 4:
        return NEED_EVENTS
    if out[1].shape[0] - counters[C_TRADE_COUNT] < live + 1:
        return NEED_TRADES
    return DONE


@helper
def apply_action(book, out, a):
    """Run one action row ``a``: the dispatch of ``process``, also inlined into
    ``process_row``."""
    kind = a.action
    if kind == ACT_NEW:
        on_new(book, out, a)
    elif kind == ACT_CANCEL:
        on_cancel(book, out, a)
    elif kind == ACT_REPLACE:
        on_replace(book, out, a)
    elif kind == ACT_GRADE:
        on_grade(book, out, a)
    elif kind == ACT_CLOSE:
        on_close(book, out, a)
    else:
        _reject(out, book[B_COUNTERS], a, R_BAD_FIELD)


LOOK_AHEAD_LADDERS = 4096
"""Books with at least this many ladders (instruments x 2 sides x grades) look ahead."""
_AHEAD = 8


@kernel
def process(actions, start, book, out):
    """Apply actions[start:] in order; returns (next index, status).

    Stops early with a NEED_* status when an array must grow first; the caller
    grows it and calls again from the returned index.

    On a book of LOOK_AHEAD_LADDERS ladders or more, each step first starts loading the
    level a new order 8 rows ahead will rest at (``_look_ahead``). There the level rows
    in use outgrow the caches, and the wait for that row was 44% of the time on 1,000
    instruments of 4 grades: 127 -> 90 ns an action. On smaller books the rows stay
    cached and the look-ahead's own work would cost more than it saves (plain: 30 ->
    36 ns); break-even was at 2,048 ladders (256 instruments) on this machine.
    """
    n = actions.shape[0]
    look_ahead = book[B_LADDERS].shape[0] >= LOOK_AHEAD_LADDERS
    for i in range(start, n):
        need = room_needed(book, out, book[B_COUNTERS][C_EVENT_COUNT])
        if need != DONE:
            return i, need
        if look_ahead and i + _AHEAD < n:
            _look_ahead(book, actions[i + _AHEAD])
        apply_action(book, out, actions[i])
    return n, DONE


@helper
def _look_ahead(book, a):
    """Start loading the level row and occupancy word where new order ``a`` would rest
    (nothing for other rows, or rows ``on_new`` would refuse)."""
    if a.action != ACT_NEW or a.instrument < 0:
        return
    instruments, grade_floor, parties, ladders = book[B_INSTRUMENTS], book[B_GRADE_FLOOR], book[B_PARTIES], book[B_LADDERS]
    n_grades = grade_floor.shape[0]
    side = SELL if a.side == SELL else BUY  # as on_new reads it
    if side == SELL:
        tier = parties[P_GRADE, a.party]
    else:
        tier = n_grades - 1 if a.min_grade == GRADE_ABSENT else np.int64(a.min_grade)
    if tier < 0 or tier >= n_grades:
        return
    price = _price_ticks(instruments, a.instrument, a)
    if price < 0:
        return
    ladder = ladder_of(grade_floor, a.instrument, side, tier)
    level = price_level(ladders, ladder, price)
    if 0 <= level < ladders[ladder, L_NLEVELS]:
        prefetch(book[B_LEVELS], ladders[ladder, L_BASE] + level)
        prefetch(book[B_BITS], ladders[ladder, L_BITS] + (level >> 6))


@helper
def _fill_row(book, row, seq, ts, action, order_id, party, instrument, side, order_type, tif, price_state,
              price, qty, min_grade, goodput, stp):
    """Write one action's fields into ``row[0]`` and empty the event buffer: the start of
    ``process_row`` and ``process_one``."""
    book[B_COUNTERS][C_EVENT_COUNT] = 0
    a = row[0]
    a.seq = seq
    a.ts = ts
    a.action = action
    a.order_id = order_id
    a.party = party
    a.instrument = instrument
    a.side = side
    a.order_type = order_type
    a.tif = tif
    a.price_state = price_state
    a.price = price
    a.qty = qty
    a.min_grade = min_grade
    a.goodput = goodput
    a.stp = stp


@helper
def process_row(book, out, row, seq, ts, action, order_id, party, instrument, side, order_type,
                tif, price_state, price, qty, min_grade, goodput, stp):
    """``process_one`` with the matching inlined rather than called: for the njit API's one
    compiled action function (exchange/nb/embed_nb.py), where a call passing the state's
    arrays would cost about 28 ns of an action's ~100."""
    _fill_row(book, row, seq, ts, action, order_id, party, instrument, side, order_type, tif, price_state,
              price, qty, min_grade, goodput, stp)
    a = row[0]
    need = room_needed(book, out, np.int64(0))
    if need != DONE:
        return -need
    apply_action(book, out, a)
    return book[B_COUNTERS][C_EVENT_COUNT]


@kernel
def process_one(book, out, row, seq, ts, action, order_id, party, instrument, side, order_type,
                tif, price_state, price, qty, min_grade, goodput, stp):
    """One action from scalars (the per-call API): fills ``row`` (a 1-element
    ACTION_DTYPE array) and processes it into an emptied event buffer. Returns the
    number of events, or -NEED_* when an array must grow first (nothing was done)."""
    _fill_row(book, row, seq, ts, action, order_id, party, instrument, side, order_type, tif, price_state,
              price, qty, min_grade, goodput, stp)
    _, status = process(row, np.int64(0), book, out)
    return -status if status != DONE else book[B_COUNTERS][C_EVENT_COUNT]


@kernel
def dump_book(book, resting, links):
    """Write every resting order into ``resting`` (BOOK_DTYPE), instruments in order,
    bids then asks, priority order; returns the count. ``links``: int32 scratch with room
    for every slot (``BookState.link_scratch``).

    The walk follows each level's queue from order to order. It chases a compact copy of
    the links (``links``, 4 bytes a slot, made in one sequential pass) rather than the
    64-byte records, so the chase stays in cache and the reads of each order's fields,
    off its path, overlap: over the plain workload's 227,500 resting orders, 109 ns an
    order chasing the records, 40 ns chasing the copy (75 ns with the two rows a slot
    had before)."""
    orders, ladders, levels, bits, cursors = book[B_ORDERS], book[B_LADDERS], book[B_LEVELS], book[B_BITS], book[B_CURSORS]
    instruments, grade_floor = book[B_INSTRUMENTS], book[B_GRADE_FLOOR]
    for slot in range(book[B_COUNTERS][C_HWM]):
        links[slot] = orders[slot].next
    n_grades = grade_floor.shape[0]
    n = 0
    for instrument in range(instruments.shape[0]):
        for side in (BUY, SELL):
            cursors_open(cursors, ladders, ladder_of(grade_floor, instrument, side, 0), n_grades)
            while True:
                k = cursors_pick(cursors, orders, ladders, levels, n_grades)
                if k == -1:
                    break
                slot = cursor_slot(cursors, ladders, levels, k)
                ladder = cursors[K_LADDER, k]
                r = resting[n]
                r.instrument = instrument
                r.side = side
                r.order_id = orders[slot].id
                r.party = orders[slot].party
                r.price = level_price(ladders, ladder, cursors[K_LEVEL, k])
                r.qty = orders[slot].open
                r.grade = ladders[ladder, L_GRADE] if side == SELL else -1
                r.min_grade = ladders[ladder, L_GRADE] if side == BUY else -1
                r.tif = orders[slot].modes & TIF_MASK
                r.arrival_seq = orders[slot].arrival
                r.stp = orders[slot].modes >> STP_SHIFT
                n += 1
                cursor_follow(cursors, ladders, bits, k, links[slot])
    return n
