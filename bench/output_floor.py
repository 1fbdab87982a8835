"""What the rules' output and checks cost on top of the minimal book: a floor under the kernel.

    python -m bench.output_floor [--runs 7] [--size 1000000]

The minimal book (bench/minimal_book.py) writes a fill log of four int64 and checks
nothing. Our kernel must also write every event and trade of docs/RULES.md §5 in the
public records, and refuse what §4 refuses. This module times the minimal book's own
loop with those duties added one at a time, on the ``plain`` workload, each beside the
minimal book in the same process (runs alternating, CPU time of this thread), and prints
each as a ratio to it:

* ``output``: reads our action records (``ACTION_DTYPE``) and writes our event and trade
  records (``EVENT_DTYPE``, ``TRADE_DTYPE``): ACCEPTED, two FILLs per trade, the
  CANCELED of a cancel or an IOC remainder, the REJECTED of a cancel of an order no
  longer resting, with the parties of both sides;
* ``checks``: also the checks ``on_new`` and ``on_cancel`` make on every row (instrument
  known and open, id never seen, seller graded, quantity and price in range, price
  present, the canceller owns the order);
* ``totals``: also each level's open quantity (what the book queries read) and the check
  for room in the output before each action.

Each variant's events and trades are compared with our engine's on the same rows, so the
floor does the same work, not less. What it leaves out (several grades, self-trade
prevention, replace, regrade, close, ids beyond the dense range) our kernel still does:
its ratio to the minimal book cannot be below the last variant's. Not run by CI.

The loop repeats the minimal book's queue steps (rest, cancel, pop a filled order) rather
than sharing them: shared as helpers inlined at Numba IR level, the minimal book ran 78%
more instructions (103.7 -> 184.5 an action); inlined by LLVM, 3% fewer, and 3-4% faster.
Either would have moved the yardstick every ratio in bench/HISTORY.md is measured against.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
from numba import njit

from bench.minimal_book import clear_level, first_level, set_level
from bench.runner import prepare_workload, touched_outputs
from exchange.engine import run_kernel
from exchange.nb.kernel import nonnegative_indexes
from exchange.nb.layout import C_EVENT_COUNT, C_TRADE_COUNT
from exchange.schema import (
    ACT_CANCEL, ACT_NEW, BUY, EVENT_DTYPE, EV_ACCEPTED, EV_CANCELED, EV_FILL, EV_REJECTED, GRADE_ABSENT, IOC, MARKET,
    NO_VALUE, PRICE_OK, R_IOC, R_NONE, R_NOT_OWNER, R_UNKNOWN_ORDER, TRADE_DTYPE,
)

nonnegative_indexes(__name__)

OUTPUT, CHECKS, TOTALS = 1, 2, 3
VARIANTS = {"output": OUTPUT, "checks": CHECKS, "totals": TOTALS}


@njit(inline="always")
def _event(events, n, a, order_id, kind, reason, qty, leaves_qty, trade_id):
    """Write event ``n`` of row ``a`` (EVENT_DTYPE, every field)."""
    e = events[n]
    e.seq = a.seq
    e.ts = a.ts
    e.order_id = order_id
    e.event = kind
    e.reason = reason
    e.qty = qty
    e.leaves_qty = leaves_qty
    e.trade_id = trade_id


def _make_run(duties: int):
    """``floor_run`` with the duties up to ``duties`` compiled in (a constant, so each
    variant is its own machine code with no test of the others)."""

    @njit(nogil=True)
    def floor_run(actions, top, words, summary, head, tail, best, next_id, prev_id, open_qty, level_of,
                  book_of, party_of, id_seen, level_qty, closed, provider_grade, max_qty, price_lo, price_hi,
                  events, trades):
        n_events = 0
        n_trades = 0
        live = 0
        for i in range(actions.shape[0]):
            a = actions[i]
            oid = a.order_id
            if duties >= TOTALS and (events.shape[0] - n_events < 2 * live + 4
                                     or trades.shape[0] - n_trades < live + 1):
                return -1, -1
            if a.action == ACT_CANCEL:
                refusal = R_NONE
                if oid >= open_qty.shape[0] or open_qty[oid] == 0:
                    refusal = R_UNKNOWN_ORDER
                elif duties >= CHECKS and party_of[oid] != a.party:
                    refusal = R_NOT_OWNER
                if refusal != R_NONE:
                    _event(events, n_events, a, oid, EV_REJECTED, refusal, a.qty, NO_VALUE, 0)
                    n_events += 1
                    continue
                live -= 1
                b, level = book_of[oid], level_of[oid]
                before, after = prev_id[oid], next_id[oid]
                if before != 0:
                    next_id[before] = after
                else:
                    head[b, level] = after
                if after != 0:
                    prev_id[after] = before
                else:
                    tail[b, level] = before
                if duties >= TOTALS:
                    level_qty[b, level] -= open_qty[oid]
                _event(events, n_events, a, oid, EV_CANCELED, R_NONE, open_qty[oid], 0, 0)
                n_events += 1
                open_qty[oid] = 0
                if head[b, level] == 0:
                    clear_level(words, summary, b, level)
                    if best[b] == level:
                        best[b] = first_level(words, summary, b, level)
                continue
            if a.action != ACT_NEW:
                continue
            buy = a.side == BUY
            market = a.order_type == MARKET
            if duties >= CHECKS:
                # on_new's refusals, in its order; the plain workload meets none of them
                if a.instrument < 0 or closed[a.instrument] != 0 or id_seen[oid] != 0:
                    return -2, -2
                if not buy and (provider_grade[a.party] < 0 or a.min_grade != GRADE_ABSENT):
                    return -2, -2
                if a.qty < 1 or a.qty > max_qty[a.instrument]:
                    return -2, -2
                if not market and (a.price_state != PRICE_OK or a.price < price_lo[a.instrument]
                                   or a.price > price_hi[a.instrument]):
                    return -2, -2
                id_seen[oid] = 1
            own = 2 * a.instrument + (0 if buy else 1)
            other = own ^ 1
            price = a.price
            limit = top if market else (price if buy else top - price)
            qty = a.qty
            _event(events, n_events, a, oid, EV_ACCEPTED, R_NONE, qty, qty, 0)
            n_events += 1
            remaining = qty
            while remaining > 0:
                level = best[other]
                if level < 0 or level > limit:
                    break
                maker = head[other, level]
                maker_open = open_qty[maker]
                traded = min(remaining, maker_open)
                remaining -= traded
                t = trades[n_trades]
                n_trades += 1
                t.trade_id, t.seq, t.ts, t.instrument = n_trades, a.seq, a.ts, a.instrument
                t.buy_order_id = oid if buy else maker
                t.sell_order_id = maker if buy else oid
                t.buyer = a.party if buy else party_of[maker]
                t.seller = party_of[maker] if buy else a.party
                t.grade, t.price, t.qty, t.aggressor = 0, level if buy else top - level, traded, a.side
                _event(events, n_events, a, oid, EV_FILL, R_NONE, traded, remaining, n_trades)
                _event(events, n_events + 1, a, maker, EV_FILL, R_NONE, traded, maker_open - traded, n_trades)
                n_events += 2
                open_qty[maker] = maker_open - traded
                if duties >= TOTALS:
                    level_qty[other, level] -= traded
                if maker_open == traded:
                    live -= 1
                    after = next_id[maker]
                    head[other, level] = after
                    if after != 0:
                        prev_id[after] = 0
                    else:
                        tail[other, level] = 0
                        clear_level(words, summary, other, level)
                        best[other] = first_level(words, summary, other, level)
            if remaining == 0:
                continue
            if market or a.tif == IOC:
                _event(events, n_events, a, oid, EV_CANCELED, R_IOC, remaining, 0, 0)
                n_events += 1
                continue
            level = top - price if buy else price
            last = tail[own, level]
            prev_id[oid] = last
            next_id[oid] = 0
            if last != 0:
                next_id[last] = oid
            else:
                head[own, level] = oid
                set_level(words, summary, own, level)
                if best[own] < 0 or level < best[own]:
                    best[own] = level
            tail[own, level] = oid
            live += 1
            open_qty[oid] = remaining
            party_of[oid] = a.party
            level_of[oid] = level
            book_of[oid] = own
            if duties >= TOTALS:
                level_qty[own, level] += remaining
        return n_events, n_trades

    return floor_run


class FloorBook:
    """The state of one floor run over ``actions`` (the plain workload's rows)."""

    def __init__(self, duties: int, actions: np.ndarray, config) -> None:
        self.run_kernel = _make_run(duties)
        self.actions = actions
        instrument = config.instruments[0]
        self.top = int(instrument.max_ticks) + 1
        self.price_lo = np.array([instrument.min_ticks], np.int64)
        self.price_hi = np.array([instrument.max_ticks], np.int64)
        self.max_qty = np.array([instrument.max_qty], np.int64)
        self.closed = np.zeros(1, np.int64)
        self.provider_grade = np.zeros(int(actions["party"].max()) + 1, np.int64)

    def reset(self) -> None:
        """Fresh state, every page written (no first-touch faults in the timed run)."""
        n_levels, ids, n = self.top + 1, int(self.actions["order_id"].max()) + 1, len(self.actions)
        n_words = (n_levels + 63) // 64
        self.words = np.zeros((2, n_words), np.uint64)
        self.summary = np.zeros((2, (n_words + 63) // 64), np.uint64)
        self.head, self.tail, self.level_qty = (np.zeros((2, n_levels), np.int64) for _ in range(3))
        self.best = np.full(2, -1, np.int64)
        self.next_id, self.prev_id, self.open_qty, self.level_of, self.book_of, self.party_of, self.id_seen = (
            np.zeros(ids, np.int64) for _ in range(7))
        self.events = np.zeros(3 * n + 2 * ids + 64, EVENT_DTYPE)
        self.trades = np.zeros(n + 64, TRADE_DTYPE)
        for array in (self.head, self.tail, self.level_qty, self.next_id, self.prev_id, self.open_qty,
                      self.level_of, self.book_of, self.party_of, self.id_seen, self.events, self.trades):
            array.view(np.uint8)[...] = 0

    def run(self) -> tuple[int, int]:
        return self.run_kernel(self.actions, self.top, self.words, self.summary, self.head, self.tail, self.best,
                               self.next_id, self.prev_id, self.open_qty, self.level_of, self.book_of,
                               self.party_of, self.id_seen, self.level_qty, self.closed, self.provider_grade,
                               self.max_qty, self.price_lo, self.price_hi, self.events, self.trades)


class KernelRun:
    """Our kernel over the same rows, prepared as the runner prepares it (a copy of the
    base state, output buffers with every page written)."""

    def __init__(self, prepared) -> None:
        self.prepared = prepared

    def reset(self) -> None:
        self.state = self.prepared.base.copy()
        self.outputs = touched_outputs(len(self.prepared.actions), 0)

    def run(self):
        return run_kernel(self.state, self.prepared.actions, *self.outputs)


def engine_output(prepared) -> tuple[np.ndarray, np.ndarray]:
    """The events and trades our engine writes for the prepared rows."""
    run = KernelRun(prepared)
    run.reset()
    events, trades = run.run()
    return events[:run.state.counters[C_EVENT_COUNT]], trades[:run.state.counters[C_TRADE_COUNT]]


def same_output(floor: FloorBook, events: np.ndarray, trades: np.ndarray) -> bool:
    """Does a fresh run of ``floor`` write exactly these events and trades, byte for byte?"""
    floor.reset()
    n_events, n_trades = floor.run()
    return (n_events == len(events) and n_trades == len(trades)
            and floor.events[:n_events].tobytes() == events.tobytes()
            and floor.trades[:n_trades].tobytes() == trades.tobytes())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.output_floor", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each (default 7)")
    parser.add_argument("--size", type=int, default=1_000_000, help="actions of the plain workload (at least 1,000)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.size < 1000:
        parser.error("--runs must be at least 1 and --size at least 1000")
    prepared = prepare_workload("plain", args.size)
    events, trades = engine_output(prepared)
    contenders = {"minimal": prepared.minimal}
    for name, duties in VARIANTS.items():
        contenders[name] = FloorBook(duties, prepared.actions, prepared.workload.config)
        if not same_output(contenders[name], events, trades):
            sys.exit(f"output_floor: the {name} variant's events or trades differ from the engine's")
    contenders["kernel"] = KernelRun(prepared)
    prepared.minimal.run()  # compiled (or loaded) before timing; the others ran above
    seconds = {name: [] for name in contenders}
    for _ in range(args.runs):
        for name, contender in contenders.items():
            contender.reset()
            start = time.thread_time()
            contender.run()
            seconds[name].append(time.thread_time() - start)
    n = len(prepared.actions)
    for name, times in seconds.items():
        ratios = [t / m for t, m in zip(times, seconds["minimal"])]
        print(f"{name:8s} {statistics.median(times) / n * 1e9:6.1f} ns/action   vs minimal "
              f"{statistics.median(ratios):.2f} [{min(ratios):.2f} .. {max(ratios):.2f}]")


if __name__ == "__main__":
    main()
