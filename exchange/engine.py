"""The engine's two ways in, over one compiled core.

* ``run_batch(config, actions, parties)``: a structured array of actions in,
  arrays of events, trades and the final book out. Benchmarks and the whole-file
  replay use it; ``BatchStream`` is the same a block of actions at a time (the
  streamed replay).
* ``Exchange(config)``: the per-call API for simulations (docs/API.md). Each call
  validates and converts its arguments (exchange/arguments.py), runs the same kernel
  on one action and returns the events it caused. Its other jobs are mixins, each in
  its own module: queries (exchange/queries.py), snapshot/restore/fork
  (exchange/branching.py), frames (exchange/exchange_frames.py), and the njit
  embedding with the lean per-call path (exchange/embedding.py).

Both grow the kernel's arrays by doubling when the kernel reports one is full;
``run_batch`` also reuses its output buffers from batch to batch (exchange/buffers.py).
"""
from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from exchange import memory_budget
from exchange.arguments import (
    INT64_MAX, exact_decimal, integer, quantity, short, word,
)
from exchange.branching import Branching
from exchange.buffers import OUTPUT_BUFFERS, grown_for, records_copy
from exchange.config import PARTY_PATTERN, ExchangeConfig, Instrument, whole_multiple, with_listed
from exchange.embedding import Embeddable
from exchange.entries import ENTRIES
from exchange.exchange_frames import Frames
from exchange.nb import actions_nb, lean_nb, orderids_nb
from exchange.nb.actions_nb import batch_facts, check_and_number
from exchange.nb.kernel import Stopwatch, announce_compile
from exchange.nb.ladder_nb import level_price, next_level
from exchange.nb.layout import C_EVENT_COUNT, C_MAX_ID, C_TRADE_COUNT, DONE
from exchange.nb.matching_nb import dump_book, process, process_one
from exchange.queries import Queries
from exchange.schema import (
    ACT_CANCEL, ACT_CLOSE, ACT_GRADE, ACT_NEW, ACT_REPLACE, ACTION_DTYPE, BP,
    EVENT_DTYPE, GRADE_ABSENT, GRADE_UNKNOWN, NO_VALUE, PRICE_ABSENT,
    PRICE_INVALID, PRICE_OK, STP_WORDS, TIF_WORDS, TRADE_DTYPE, TYPE_WORDS, SIDE_WORDS,
    Event, EventType, OrderType, Reason, Side, Stp, Tif,
)
from exchange.state import BookState, planned_bytes

if TYPE_CHECKING:  # the frames' types; pandas and polars are optional
    import pandas
    import polars
    import pyarrow

# What a price argument may be: decimal text, a Decimal, or whole dollars (docs/API.md).
PriceArg = str | Decimal | int

# The kernels each way in can call, loaded (compiled on a machine's first run) before
# the first action so that no call compiles: run_batch and Exchange.apply, and the
# per-call Exchange with its queries.
BATCH_KERNELS = (batch_facts, process, dump_book, orderids_nb.rehash)
CALL_KERNELS = (process_one, process, dump_book, orderids_nb.lookup, level_price, next_level,
                orderids_nb.rehash, check_and_number, lean_nb.submit_traded, lean_nb.cancel_open)
COMPILE_SECONDS = 25  # cold Exchange(): 22 s of CPU on the 2-CPU dev VM, two copies of the matching (bench/compile_times.py --job exchange)

_PARTY_RE = re.compile(PARTY_PATTERN)
_EVENT_TYPES = list(EventType)
_REASONS = list(Reason)


class BatchResult:
    """What a batch run produced. ``parties`` names the party indexes used in all arrays;
    ``config`` is the configuration it ran under (names and tick sizes of the frames).

    ``events`` (EVENT_DTYPE) and ``trades`` (TRADE_DTYPE) are views of the batch's output
    buffers; ``run_batch`` reuses a buffer for a later batch only once no result and no
    view of one still references it (exchange/buffers.py, ``release_buffers()``).

    ``book`` (BOOK_DTYPE): the resting orders at the end, in priority order. ``run_batch``
    leaves it to be read from ``state`` on first access, then kept: that first access
    costs about 50 ns per resting order (12.6 ms for the 243 k orders resting after 1 M
    standard actions), a result whose book is never read costs nothing. Nothing changes
    ``state`` after the run, so the book is the same whenever it is read. Pickling (and
    copying) builds it first. A result built from a ready book (merged shards) may have
    ``state=None``."""

    def __init__(self, events: np.ndarray, trades: np.ndarray, book: np.ndarray | None,
                 parties: list[str], state: BookState | None, config: ExchangeConfig | None = None):
        if book is None and state is None:
            raise ValueError("BatchResult: give the book, or the state to read it from")
        self.events = events
        self.trades = trades
        self._book = book
        self.parties = parties
        self.state = state
        self.config = config
        self._reading = threading.Lock()  # dump_book walks with the state's cursors

    @property
    def book(self) -> np.ndarray:
        """The resting orders (BOOK_DTYPE, priority order), read from ``state`` on first access."""
        if self._book is None:
            with self._reading:
                if self._book is None:
                    self._book = self.state.resting_orders()
        return self._book

    def __getstate__(self) -> dict:
        fields = {**self.__dict__, "_book": self.book}
        del fields["_reading"]
        return fields

    def __setstate__(self, fields: dict) -> None:
        self.__dict__.update(fields, _reading=threading.Lock())

    def __repr__(self) -> str:
        book = "not read yet" if self._book is None else f"{len(self._book):,} resting orders"
        return (f"BatchResult({len(self.events):,} events, {len(self.trades):,} trades, book: {book}, "
                f"{len(self.parties):,} parties)")

    def to_arrow(self, what: str, prices: str = "decimal", *,
                 config: ExchangeConfig | None = None) -> pyarrow.Table:
        """``what`` ("trades", "events" or "book") as a ``pyarrow.Table`` with the columns and
        units of its CSV file (docs/RULES.md §5). ``prices``: "decimal" (exact
        ``decimal128``, as ``replay --format parquet``) or "ticks" (int64). Every column is
        built anew (records are rows, Arrow columns contiguous: no zero-copy); docs/API.md "Frames".
        ``config``: for a result that carries none (merged shards)."""
        from exchange.files import frames

        records = getattr(self, frames.check_choice(what, frames.TABLES, "what"))
        return frames.to_arrow(what, records, _config_of(config or self.config), self.parties, prices)

    def to_pandas(self, what: str, prices: str = "decimal", *,
                  config: ExchangeConfig | None = None) -> pandas.DataFrame:
        """``to_arrow``'s table as a pandas DataFrame (``pd.ArrowDtype`` columns, no float);
        needs ``pip install compute-exchange[pandas]``."""
        from exchange.files import frames

        return frames.to_pandas(self.to_arrow(what, prices, config=config))

    def to_polars(self, what: str, prices: str = "decimal", *,
                  config: ExchangeConfig | None = None) -> polars.DataFrame:
        """``to_arrow``'s table as a polars DataFrame; needs ``pip install compute-exchange[polars]``."""
        from exchange.files import frames

        return frames.to_polars(self.to_arrow(what, prices, config=config))


def _config_of(config: object) -> ExchangeConfig:
    if not isinstance(config, ExchangeConfig):
        raise ValueError(f"config: {short(config)} is not an ExchangeConfig (this result carries none)")
    return config


def _one_layout(actions: np.ndarray) -> np.ndarray:
    """The array type the kernels are compiled for: C-contiguous and writeable (a strided
    or read-only array would compile a second copy of the matching kernel)."""
    if actions.flags.c_contiguous and actions.flags.writeable:
        return actions
    return np.array(actions, ACTION_DTYPE, order="C")


def run_kernel(state: BookState, actions: np.ndarray, events: np.ndarray, trades: np.ndarray, kernel=process):
    """Run the kernel over all actions, growing whatever it reports full. ``kernel``: the
    dispatcher ``process``, or its compiled entry point for C-contiguous ``actions``."""
    counters = state.counters
    start = 0
    while True:
        start, status = kernel(actions, start, state.arrays, (events, trades))
        if status == DONE:
            return events, trades
        events, trades = grown_for(status, state, events, trades, int(counters[C_EVENT_COUNT]))


def register_providers(config: ExchangeConfig, state: BookState, party_index: dict[str, int],
                       parties: list[str]) -> None:
    for provider in config.providers:
        index = party_index.get(provider.party)
        if index is None:
            index = party_index[provider.party] = len(parties)
            parties.append(provider.party)
        state.ensure_parties(len(parties))
        state.register_provider(index, provider.goodput_bp, config.grade_index(provider.goodput_bp))


def _check_stp_codes(actions: np.ndarray, where: str) -> None:
    """ValueError when a `new` row's ``stp`` is not an Stp code (other rows ignore the cell)."""
    stp = actions["stp"][actions["action"] == ACT_NEW]
    if len(stp) and (stp.min() < min(Stp) or stp.max() > max(Stp)):
        raise ValueError(f"{where}: stp: a new row's code is not one of "
                         + ", ".join(f"{int(m)} ({w})" for w, m in STP_WORDS.items()))


def _refuse(problems: int, actions: np.ndarray) -> None:
    """ValueError for the first kind of problem ``check_and_number`` found in ``actions``."""
    if problems & (1 << actions_nb.BAD_PARTY):
        raise ValueError("actions: a party code is not one of party_index()'s")
    if problems & (1 << actions_nb.BAD_INSTRUMENT):
        raise ValueError("actions: an instrument code is outside the configuration")
    if problems & (1 << actions_nb.BAD_STP):
        _check_stp_codes(actions, "actions")
    raise ValueError("actions: ts must not go backwards")


def _listing_rows(listings: object, n_rows: int) -> list[int]:
    """The rows of ``apply``'s ``listings`` (``(row, instrument)`` pairs, rows in
    non-decreasing order within 0..n_rows); ValueError naming the pair otherwise."""
    if not isinstance(listings, (list, tuple)):
        raise ValueError(f"listings: {short(listings)} is not a list of (row, instrument) pairs")
    rows = []
    for k, pair in enumerate(listings):
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ValueError(f"listings[{k}]: {short(pair)} is not a (row, instrument) pair")
        row = pair[0]
        if type(row) is not int or not (rows[-1] if rows else 0) <= row <= n_rows:
            raise ValueError(f"listings[{k}]: row {short(row)} is not an int in "
                             f"{rows[-1] if rows else 0}..{n_rows} (rows in order, {n_rows} actions)")
        rows.append(row)
    return rows


def _pow2_at_least(n: int) -> int:
    return 1 << max(4, (n - 1).bit_length())


def dense_ids(actions: np.ndarray, n_new: int) -> int:
    """Size of the direct id table: every id of the batch when they are dense (at most
    4 per new order, plus slack), else 0 and the hash holds them all."""
    if not n_new or len(actions) == 0:
        return 0
    return _dense_size(int(actions["order_id"].max()), n_new)


def _dense_size(highest: int, n_new: int) -> int:
    return highest + 1 if n_new and _dense(highest, n_new) else 0


def _dense(highest: int, count: int) -> bool:
    """Are ids up to ``highest`` dense for ``count`` orders (at most 4 each, plus slack)?"""
    return highest < 4 * count + 4096


def _widen_direct_ids(state: BookState, highest: int, rows: int) -> None:
    """Dense ids (counted up from 1) stay in the direct table: double it as the highest id
    of the next rows passes its end, while they are dense for ``rows`` rows in all."""
    if len(state.id_direct) <= highest and _dense(highest, rows):
        state.reserve(dense_ids=max(2 * len(state.id_direct), _pow2_at_least(highest + 1)))


def _checked_batch(actions: np.ndarray, n_parties: int, n_instruments: int, where: str) -> tuple[int, int]:
    """``run_batch``'s row checks, in one compiled pass (``batch_facts``): ValueError for a
    party or instrument index out of range or a bad stp code. Returns (new orders, highest
    order id)."""
    if not len(actions):
        return 0, 0
    low_party, high_party, high_instrument, bad_stp, n_new, highest = batch_facts(actions)
    if high_party >= n_parties or low_party < -1:
        raise ValueError(f"{where}: a party index is outside the parties list")
    if high_instrument >= n_instruments:
        raise ValueError(f"{where}: an instrument index is outside the configuration")
    if bad_stp:
        _check_stp_codes(actions, where)
    return n_new, highest


def run_batch(config: ExchangeConfig, actions: np.ndarray, parties: Sequence[str], *,
              direct_ids: int | None = None) -> BatchResult:
    """Apply ``actions`` (ACTION_DTYPE, in order) to a fresh exchange.

    ``parties[i]`` names party index ``i`` in ``actions['party']``; config providers
    missing from it are appended. Raises ValueError if an index is out of range.
    ``direct_ids`` overrides the size of the direct id table (tests); it never changes
    the result, only where ids are kept.

    Cost: the kernel's run over the rows. The events and trades are written into output
    buffers an earlier batch used, when no result still uses them (``release_buffers()``
    drops them); the final book is read from the state on first access of ``.book``
    (``BatchResult``).
    """
    if actions.dtype != ACTION_DTYPE:
        raise ValueError("run_batch: actions must have exchange.schema.ACTION_DTYPE")
    actions = _one_layout(actions)
    parties = list(parties)
    party_index = {name: i for i, name in enumerate(parties)}
    n_new, highest = _checked_batch(actions, len(parties), len(config.instruments), "run_batch")
    direct = _dense_size(highest, n_new) if direct_ids is None else direct_ids
    # Order slots for half the new orders: the standard and plain mixes keep about a third
    # resting, so a quarter grew once mid-run (a 4-5 ms copy per 1 M actions). Untouched
    # slots cost only the fill of their links with -1 (``unset_orders``).
    state = BookState(config, order_capacity=max(1024, n_new // 2),
                      id_capacity=_pow2_at_least(2 * n_new + 2) if not direct else 1024,
                      party_capacity=max(64, len(parties) + len(config.providers)),
                      direct_ids=direct)
    register_providers(config, state, party_index, parties)
    # Generous capacities spare the copy of a mid-run growth; they cost nothing until
    # written (pages are committed on first touch), and a reused buffer's pages are
    # already committed (exchange/buffers.py).
    events_taken = OUTPUT_BUFFERS.take(EVENT_DTYPE, max(64, 3 * len(actions)))
    trades_taken = OUTPUT_BUFFERS.take(TRADE_DTYPE, max(64, len(actions)))
    events, trades = run_kernel(state, actions, events_taken, trades_taken)
    OUTPUT_BUFFERS.give_back(events_taken, events)  # the pool keeps what they grew into
    OUTPUT_BUFFERS.give_back(trades_taken, trades)
    return BatchResult(events[: state.counters[C_EVENT_COUNT]],
                       trades[: state.counters[C_TRADE_COUNT]], None, parties, state, config)


def release_buffers() -> int:
    """Let go of the output buffers ``run_batch`` keeps for reuse (at most 2 events and 2
    trades buffers, none above ``exchange.buffers.POOL_MAX_BYTES``): their memory returns
    to the system once no result uses them, and the next ``run_batch`` writes fresh pages
    again. Returns the bytes the pool held."""
    return OUTPUT_BUFFERS.release()


class BatchStream:
    """``run_batch`` a block of actions at a time: one exchange whose book, order ids,
    trade ids and party indexes carry from block to block, so that the blocks' events
    and trades, one after the other, are ``run_batch``'s over all the rows (and its
    final book and parties). For replays that read, match and write a file in blocks
    (exchange/files/replay.py): memory is that of a block and the book, and the caller's
    event and trade buffers are reused from block to block (fresh memory costs the OS a
    page zeroing on first touch, which was most of ``run_batch``'s time on 10 M rows).

        stream = BatchStream(config)
        for actions, parties in blocks:  # parties: every name so far, by party index
            events, trades, n_events, n_trades = stream.run(actions, parties, events, trades)
        book, parties = stream.finish()

    A config provider is registered when its name first appears (before that, no row
    can refer to it) and the ones that never appear are appended to ``parties`` by
    ``finish``, as ``run_batch`` appends them. Cost per block: ``run_batch``'s checks and
    the kernel; the direct id table widens by doubling as dense ids grow (a copy)."""

    def __init__(self, config: ExchangeConfig):
        self.config = config
        self.parties: list[str] = []
        self.rows = 0
        self._providers = {p.party: p for p in config.providers}
        self._party_index: dict[str, int] = {}
        self.state = BookState(config, order_capacity=1024, id_capacity=1024,
                               party_capacity=max(64, len(config.providers)))

    def _add_parties(self, parties: Sequence[str]) -> None:
        state = self.state
        state.ensure_parties(len(parties))
        for index in range(len(self.parties), len(parties)):
            name = parties[index]
            self.parties.append(name)
            self._party_index[name] = index
            provider = self._providers.get(name)
            if provider is not None:
                state.register_provider(index, provider.goodput_bp, self.config.grade_index(provider.goodput_bp))

    def run(self, actions: np.ndarray, parties: Sequence[str], events: np.ndarray, trades: np.ndarray):
        """Match ``actions`` (ACTION_DTYPE, the next rows in order) into ``events`` and
        ``trades`` from their start. ``parties``: every party name so far, by index (the
        names of earlier blocks first, unchanged). Returns (events, trades, n_events,
        n_trades): the buffers, grown if they were too small, and how many records this
        block wrote. ValueError as ``run_batch``."""
        if actions.dtype != ACTION_DTYPE:
            raise ValueError("BatchStream.run: actions must have exchange.schema.ACTION_DTYPE")
        known = len(self.parties)
        if len(parties) < known or (known and parties[known - 1] != self.parties[-1]):
            raise ValueError("BatchStream.run: parties must extend the names of earlier blocks")
        actions = _one_layout(actions)
        self._add_parties(parties)
        state = self.state
        if len(actions):
            _, highest = _checked_batch(actions, len(self.parties), len(self.config.instruments), "BatchStream.run")
            _widen_direct_ids(state, highest, self.rows + len(actions))
        counters = state.counters
        counters[C_EVENT_COUNT] = 0
        counters[C_TRADE_COUNT] = 0
        events, trades = run_kernel(state, actions, events, trades)
        self.rows += len(actions)
        return events, trades, int(counters[C_EVENT_COUNT]), int(counters[C_TRADE_COUNT])

    def finish(self) -> tuple[np.ndarray, list[str]]:
        """The resting orders (BOOK_DTYPE, priority order) and the parties, config
        providers that no row named appended, as ``run_batch`` gives them."""
        for provider in self.config.providers:
            if provider.party not in self._party_index:
                self._add_parties(self.parties + [provider.party])
        book = self.state.resting_orders()
        return book, list(self.parties)


# ------------------------------------------------------------ per call
_ONE_BP = Decimal("0.0001")

# Word or enum member -> code: one dict look-up on submit's hot path. Defined here, not
# imported: CPython compiles ``imported_name.get(...)`` without its method-call shortcut
# (about 30 ns a look-up).
_SIDES: dict[Any, int] = {**SIDE_WORDS, **{s: int(s) for s in Side}}
_TYPES: dict[Any, int] = {**TYPE_WORDS, **{t: int(t) for t in OrderType}}
_TIFS: dict[Any, int] = {**TIF_WORDS, **{t: int(t) for t in Tif}}
_STPS: dict[Any, int] = {**STP_WORDS, **{m: int(m) for m in Stp}}


class Exchange(Queries, Branching, Frames, Embeddable):
    """A compute exchange you drive one action at a time (see docs/API.md).

    Every call that returns is one input row with the next ``seq``; malformed
    arguments raise ValueError and change nothing; market refusals are REJECTED
    events. ``fork()`` and ``snapshot()``/``restore()`` let a simulation branch.

    The first ``Exchange`` of a process loads every kernel a call or query can run
    (compiling them on a machine's first run, announced by one line on stderr), so no
    call compiles; ``load_seconds`` is the time this constructor spent doing so.
    """

    load_seconds: float

    def __init__(self, config: ExchangeConfig | None = None, *, memory_limit: int | None = None):
        """``memory_limit``: bytes this exchange (and each ``fork()``) may plan to take;
        default ``memory_budget.default_budget()``, half of the memory available. A config
        whose price ladders need more is refused (MemoryBudgetError, a ValueError) before
        anything is allocated."""
        self.config = config if config is not None else ExchangeConfig.default()
        self._memory_limit = memory_limit
        memory_budget.check(planned_bytes(self.config), self._budget(),
                            f"an exchange over {self.config.source} "
                            f"({len(self.config.instruments):,} instruments' price ladders)",
                            option="Exchange(config, memory_limit=BYTES)")
        self._state = BookState(self.config)
        self._parties: list[str] = []
        self._party_index: dict[str, int] = {}
        register_providers(self.config, self._state, self._party_index, self._parties)
        self._instrument_index = {ins.symbol: i for i, ins in enumerate(self.config.instruments)}
        self._grade_index = {g.name: i for i, g in enumerate(self.config.grades)}
        self._events = np.empty(64, EVENT_DTYPE)
        self._trades = np.empty(64, TRADE_DTYPE)
        self._action = np.zeros(1, ACTION_DTYPE)
        self._seq = 0
        self._ts = 0
        self._price_unit = self.config.price_unit
        self._prices: dict = {}  # price as given -> (price_state, units)
        self.load_seconds = 0.0
        if ENTRIES.process_one is None:
            with Stopwatch() as watch:
                announce_compile("the matching engine", COMPILE_SECONDS, CALL_KERNELS)
                ENTRIES.load(self._state, self._events, self._trades, self._action)
            self.load_seconds = watch.seconds

    # ----------------------------------------------------------- conversion
    def _party(self, party) -> int:
        index = self._party_index.get(party) if type(party) is str else None
        if index is not None:
            return index
        if not isinstance(party, str) or not _PARTY_RE.fullmatch(party):
            raise ValueError(f"party: {short(party)} does not match {PARTY_PATTERN}")
        index = self._party_index[party] = len(self._parties)
        self._parties.append(party)
        self._state.ensure_parties(len(self._parties))
        return index

    def _time(self, ts) -> int:
        if ts is None:
            return self._ts
        if type(ts) is int and self._ts <= ts <= INT64_MAX:
            return ts
        ts = integer(ts, "ts")
        if ts < self._ts:
            raise ValueError(f"ts: {ts} is lower than the last action's ts {self._ts}")
        return ts

    def _order_id(self, order_id) -> int:
        order_id = integer(order_id, "order_id")
        if order_id <= 0:
            raise ValueError(f"order_id: {order_id} is not positive")
        return order_id

    def _price(self, price):
        """(price_state, units) for the kernel, in the exchange's price unit. Whether the
        price is on the instrument's tick and in its band is the kernel's BAD_PRICE."""
        if price is None or price == "":  # an empty cell is "not given" (docs/RULES.md §5)
            return PRICE_ABSENT, 0
        text = type(price) is str  # only text is cached: 2.0 == 2 == True as dict keys
        if text and price in self._prices:
            return self._prices[price]
        # Exact: off the price unit (even in the 34th decimal) or beyond int64 is BAD_PRICE,
        # as in replay; the config guarantees every band fits (config._check_prices).
        units = whole_multiple(exact_decimal(price, "price"), self._price_unit, INT64_MAX)
        cell = (PRICE_INVALID, 0) if units is None else (PRICE_OK, units)
        if text and len(self._prices) < 100_000:
            self._prices[price] = cell
        return cell

    def _apply(self, action, ts, order_id=0, party=-1, instrument=-1, side=0, order_type=0,
               tif=0, price=(PRICE_ABSENT, 0), qty=NO_VALUE, min_grade=GRADE_ABSENT, goodput=0,
               stp=0):
        state = self._state
        while True:
            count = ENTRIES.process_one(state.arrays, (self._events, self._trades), self._action,
                                 self._seq, ts, action, order_id, party, instrument, side,
                                 order_type, tif, price[0], price[1], qty, min_grade, goodput, stp)
            if count >= 0:
                break
            # grow, then retry the same action from scratch
            self._events, self._trades = grown_for(-count, state, self._events, self._trades, 0)
        self._seq += 1
        self._ts = ts
        return [
            Event(seq, t, oid, _EVENT_TYPES[kind], _REASONS[reason],
                  None if q == NO_VALUE else q, None if leaves == NO_VALUE else leaves,
                  trade_id or None)
            for seq, t, oid, kind, reason, q, leaves, trade_id in self._events[:count].tolist()
        ]

    # -------------------------------------------------------------- actions
    def submit(self, party: str, instrument: str, side: str | Side, qty: int, price: PriceArg | None = None, *,
               order_type: str | OrderType = "limit", tif: str | Tif = "gtc", min_grade: str | None = None,
               order_id: int | None = None, ts: int | None = None,
               stp: str | Stp = "cancel_incoming") -> list[Event]:
        """A new order. ``price`` in $/GPU-hour (raw for sells, effective for buys); ``stp``
        says what happens if it meets its own party's order (docs/RULES.md §4 self-trade prevention).
        An empty string is an empty cell (docs/RULES.md §5): ``order_type``, ``tif``, ``price`` and
        ``min_grade`` take their defaults, a required argument is a ValueError."""
        if type(order_type) is str and not order_type:
            order_type = "limit"
        if type(tif) is str and not tif:
            tif = "gtc"
        if type(stp) is str and not stp:
            stp = "cancel_incoming"
        side_code = _SIDES.get(side) if isinstance(side, (str, Side)) else None
        if side_code is None:
            side_code = word(side, SIDE_WORDS, Side, "side")
        type_code = _TYPES.get(order_type) if isinstance(order_type, (str, OrderType)) else None
        if type_code is None:
            type_code = word(order_type, TYPE_WORDS, OrderType, "order_type")
        tif_code = _TIFS.get(tif) if isinstance(tif, (str, Tif)) else None
        if tif_code is None:
            tif_code = word(tif, TIF_WORDS, Tif, "tif")
        stp_code = _STPS.get(stp) if isinstance(stp, (str, Stp)) else None
        if stp_code is None:
            stp_code = word(stp, STP_WORDS, Stp, "stp")
        if type(qty) is not int or not -INT64_MAX <= qty <= INT64_MAX:
            qty = quantity(qty)
        if order_id is None:
            order_id = int(self._state.counters[C_MAX_ID]) + 1
            if order_id > INT64_MAX:
                raise ValueError("order_id: no next id after 2**63-1; give order_id explicitly")
        elif type(order_id) is not int or not 0 < order_id <= INT64_MAX:
            order_id = self._order_id(order_id)
        instrument_index = self._instrument_index.get(instrument, -1) if type(instrument) is str else None
        if instrument_index is None or instrument == "":
            raise ValueError(f"instrument: {short(instrument)} is not a symbol")
        if min_grade is None or min_grade == "":
            grade = GRADE_ABSENT
        elif isinstance(min_grade, str):
            grade = self._grade_index.get(min_grade, GRADE_UNKNOWN)
        else:
            raise ValueError(f"min_grade: {short(min_grade)} is not a grade name")
        price_cell = self._price(price)
        ts = self._time(ts)
        return self._apply(ACT_NEW, ts, order_id, self._party(party), instrument_index,
                           side_code, type_code, tif_code, price_cell, qty, grade, stp=stp_code)

    def cancel(self, order_id: int, party: str, *, ts: int | None = None) -> list[Event]:
        """End a resting order of ``party``."""
        if type(order_id) is not int or not 0 < order_id <= INT64_MAX:
            order_id = self._order_id(order_id)
        return self._apply(ACT_CANCEL, self._time(ts), order_id, self._party(party))

    def replace(self, order_id: int, party: str, *, price: PriceArg | None = None, qty: int | None = None,
                ts: int | None = None) -> list[Event]:
        """New price and/or new open quantity for a resting order (docs/RULES.md §4 Replace)."""
        order_id = self._order_id(order_id)
        qty = None if qty is None else quantity(qty)
        price_cell = self._price(price)
        ts = self._time(ts)
        return self._apply(ACT_REPLACE, ts, order_id, self._party(party), price=price_cell,
                           qty=NO_VALUE if qty is None else qty)

    def regrade(self, party: str, goodput: str | Decimal, *, ts: int | None = None) -> list[Event]:
        """Record a provider's measured goodput (a fraction); registers new providers."""
        number = exact_decimal(goodput, "goodput", allow_int=False)
        bp = whole_multiple(number, _ONE_BP, BP) if 0 <= number <= 1 else None
        if bp is None:
            raise ValueError(f"goodput: {short(goodput)} must be in [0, 1] with at most 4 decimal places")
        ts = self._time(ts)
        return self._apply(ACT_GRADE, ts, party=self._party(party), goodput=bp)

    def close(self, instrument: str, *, ts: int | None = None) -> list[Event]:
        """End trading in an instrument: its resting orders are cancelled."""
        if not isinstance(instrument, str) or instrument == "":
            raise ValueError(f"instrument: {short(instrument)} is not a symbol")
        return self._apply(ACT_CLOSE, self._time(ts),
                           instrument=self._instrument_index.get(instrument, -1))

    def apply(self, actions: np.ndarray, *, listings: Sequence[tuple[int, Instrument | dict]] = ()) -> np.ndarray:
        """Many actions at once (ACTION_DTYPE rows), at batch speed; returns their events
        (EVENT_DTYPE). For simulations that decide a whole step of orders together.

        Rows use ``party_index()`` / ``instrument_index()`` codes and prices in the exchange's
        price unit ``config.price_unit`` (docs/RULES.md §2); their ``seq`` column is
        overwritten with the next seqs. Raises ValueError, changing nothing,
        if a code is out of range or ``ts`` goes backwards.

        ``listings``: ``(row, instrument)`` pairs, rows in non-decreasing order: each
        instrument is listed (as ``list_instrument`` lists it) just before ``actions[row]``
        runs, or after the last row when ``row == len(actions)``; from that row on, its code
        is the next instrument code. All are checked before any row runs (``listings[k]: ``
        and the configuration's message). Cost: one ``list_instrument`` each, and the rows
        run in one kernel call per stretch between listings."""
        if not isinstance(actions, np.ndarray) or actions.dtype != ACTION_DTYPE or actions.ndim != 1:
            raise ValueError("actions: expected a 1-D array of exchange.schema.ACTION_DTYPE")
        actions = _one_layout(actions)  # a strided or read-only array: seq is set on a copy
        if listings:
            return self._apply_listing(actions, listings)
        if len(actions) == 0:
            return np.empty(0, EVENT_DTYPE)
        problems, highest = check_and_number(actions, len(self._parties), len(self.config.instruments),
                                             self._ts, self._seq)  # one pass; numbers the seqs
        if problems:
            _refuse(problems, actions)
        ts = actions["ts"]
        state = self._state
        _widen_direct_ids(state, highest, self._seq + len(actions))
        state.counters[C_EVENT_COUNT] = 0
        # The entry point skips the dispatcher's type check (about 5 us a call); the rows
        # are C-contiguous and writeable (_one_layout above), the one type it is compiled for.
        self._events, self._trades = run_kernel(state, actions, self._events, self._trades, ENTRIES.process)
        self._seq += len(actions)
        self._ts = int(ts[-1])
        return records_copy(self._events[: state.counters[C_EVENT_COUNT]])

    def _apply_listing(self, actions: np.ndarray, listings) -> np.ndarray:
        """``apply`` with listings between its rows: every listing and every stretch of rows
        is checked first (a row may use an instrument listed before it, not after), then
        the stretches run in order, each listing done where it stands."""
        rows = _listing_rows(listings, len(actions))
        configs = []
        config = self.config
        for k, (_, instrument) in enumerate(listings):
            try:
                config = self._listed(config, instrument)
            except ValueError as error:  # ConfigError or MemoryBudgetError: the same class, named
                raise type(error)(f"listings[{k}]: {error}") from None
            configs.append(config)
        bounds = [0, *rows, len(actions)]
        stretches = [actions[bounds[j]:bounds[j + 1]] for j in range(len(bounds) - 1)]
        saved_seqs = actions["seq"].copy()
        seq, ts, highest = self._seq, self._ts, 0
        for j, rows_j in enumerate(stretches):
            if not len(rows_j):
                continue
            listed = len(self.config.instruments) + j
            problems, top = check_and_number(rows_j, len(self._parties), listed, ts, seq)
            if problems:
                actions["seq"] = saved_seqs
                if problems & (1 << actions_nb.BAD_INSTRUMENT) and not problems & (1 << actions_nb.BAD_PARTY):
                    row = bounds[j] + int(np.flatnonzero(rows_j["instrument"] >= listed)[0])
                    raise ValueError(f"actions: row {row}: instrument code {int(actions['instrument'][row])} "
                                     f"is not listed at that row ({listed} instruments are)")
                _refuse(problems, rows_j)
            seq, ts, highest = seq + len(rows_j), int(rows_j["ts"][-1]), max(highest, top)
        state = self._state
        _widen_direct_ids(state, highest, seq)
        state.counters[C_EVENT_COUNT] = 0
        for j, rows_j in enumerate(stretches):
            if j:
                self._list(configs[j - 1])
            if len(rows_j):
                self._events, self._trades = run_kernel(state, rows_j, self._events, self._trades)
        self._seq, self._ts = seq, ts
        return records_copy(self._events[: state.counters[C_EVENT_COUNT]])

    def list_instrument(self, instrument: Instrument | dict[str, Any]) -> None:
        """List one more instrument while trading runs, after the others (docs/API.md).

        ``instrument``: an ``Instrument`` or a dict with an ``[[instrument]]`` table's keys,
        under the checks and messages of a configuration file (ConfigError, a ValueError;
        nothing changes), and the memory budget of ``Exchange(config)``. Not an input row:
        it takes no seq and causes no event. Cost: a copy of the price ladders' level arrays."""
        self._list(self._listed(self.config, instrument))

    def _listed(self, config: ExchangeConfig, instrument: Instrument | dict[str, Any]) -> ExchangeConfig:
        """``config`` with ``instrument`` listed, checked as a configuration and against the budget."""
        config = with_listed(config, instrument)
        memory_budget.check(planned_bytes(config), self._budget(),
                            f"listing {config.instruments[-1].symbol} ({len(config.instruments):,} "
                            "instruments' price ladders)", option="Exchange(config, memory_limit=BYTES)")
        return config

    def _list(self, config: ExchangeConfig) -> None:
        self._state.add_instrument(config)
        self._use_config(config)

    def _use_config(self, config: ExchangeConfig) -> None:
        self.config = config
        self._instrument_index = {ins.symbol: i for i, ins in enumerate(config.instruments)}
        self._price_unit = config.price_unit
        self._prices = {}

    def party_index(self, party: str) -> int:
        """The code of a party in action arrays (registers a new name)."""
        return self._party(party)

    def instrument_index(self, symbol: str) -> int:
        """The code of an instrument in action arrays (its config position)."""
        return self._known_instrument(symbol)
