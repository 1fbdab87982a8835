"""The engine's two ways in, over one compiled core.

* ``run_batch(config, actions, parties)``: a structured array of actions in,
  arrays of events, trades and the final book out. Replay and benchmarks use it.
* ``Exchange(config)``: the per-call API for simulations (docs/API.md). Each call
  validates and converts its arguments, runs the same kernel on one action and
  returns the events it caused.

Both grow the kernel's arrays by doubling when the kernel reports one is full.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from exchange import digest, memory_budget
from exchange.config import PARTY_PATTERN, ExchangeConfig, whole_multiple, with_listed
from exchange.nb import orderids_nb
from exchange.nb.kernel import Stopwatch, announce_compile, load
from exchange.nb.ladder_nb import level_price, next_level
from exchange.nb.layout import (
    C_EVENT_COUNT, C_LIVE, C_MAX_ID, C_TRADE_COUNT, C_TRADES, DONE, I_CLOSED, L_BASE,
    L_BEST, L_NLEVELS, LV_HEAD, NEED_EVENTS, NEED_IDS, NEED_SLOTS, NEED_TRADES, O_ARRIVAL, O_ID, O_LADDER, O_LEVEL, O_OPEN,
    O_PARTY, O_TIF, P_GOODPUT, P_GRADE, STP_SHIFT, TIF_MASK,
)
from exchange.nb import actions_nb, lean_nb
from exchange.nb.actions_nb import check_and_number
from exchange.nb.embed_nb import CK_FIRST_TRADE, CK_HANDED, CK_PARTIES, CK_SEQ, CK_TS, CLOCK_SIZE, NO_PRICE
from exchange.nb.matching_nb import dump_book, process, process_one
from exchange.embed import Embedding, explain
from exchange.schema import (
    ACT_CANCEL, ACT_CLOSE, ACT_GRADE, ACT_NEW, ACT_REPLACE, ACTION_DTYPE, BOOK_DTYPE, BP, BUY,
    EVENT_DTYPE, GRADE_ABSENT, GRADE_UNKNOWN, NO_VALUE, NOT_A_PROVIDER, PRICE_ABSENT,
    PRICE_INVALID, PRICE_OK, SELL, STP_WORDS, TIF_WORDS, TRADE_DTYPE, TYPE_WORDS, SIDE_WORDS,
    Event, EventType, OrderType, Reason, RestingOrder, Side, Stp, Tif, Trade,
)
from exchange.state import BookState, planned_bytes

if TYPE_CHECKING:  # the frames' types; pandas and polars are optional
    import pandas
    import polars
    import pyarrow

    from exchange.config import Instrument

# What a price argument may be: decimal text, a Decimal, or whole dollars (docs/API.md).
PriceArg = str | Decimal | int

# The kernels each way in can call, loaded (compiled on a machine's first run) before
# the first action so that no call compiles: run_batch and Exchange.apply, and the
# per-call Exchange with its queries.
BATCH_KERNELS = (process, dump_book, orderids_nb.rehash)
CALL_KERNELS = (process_one, process, dump_book, orderids_nb.lookup, level_price, next_level,
                orderids_nb.rehash)
COMPILE_SECONDS = 15  # cold compile of CALL_KERNELS: 12 s of CPU on the 2-CPU dev VM (bench/compile_times.py)

_INT64_MAX = np.iinfo(np.int64).max
_PARTY_RE = re.compile(PARTY_PATTERN)
_DECIMAL_RE = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_EVENT_TYPES = list(EventType)
_REASONS = list(Reason)


@dataclass
class BatchResult:
    """What a batch run produced. ``parties`` names the party indexes used in all arrays;
    ``config`` is the configuration it ran under (names and tick sizes of the frames)."""

    events: np.ndarray  # EVENT_DTYPE
    trades: np.ndarray  # TRADE_DTYPE
    book: np.ndarray  # BOOK_DTYPE: resting orders at the end, in priority order
    parties: list[str]
    state: BookState | None
    config: ExchangeConfig | None = None

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
        raise ValueError(f"config: {_short(config)} is not an ExchangeConfig (this result carries none)")
    return config


def _grown_for(need: int, state: BookState, events: np.ndarray, trades: np.ndarray, events_kept: int):
    """Grow what a kernel's NEED_* code names, so the kernel can retry: the event buffer to
    room for twice the live orders (keeping its first ``events_kept``), the trade buffer
    for one more fill of every live order, any state array by doubling. Returns
    (events, trades). The one grow-and-retry step of the batch, per-call and njit paths."""
    live = int(state.counters[C_LIVE])
    if need == NEED_EVENTS:
        events = _grown(events, events_kept, 2 * live + 4)
    elif need == NEED_TRADES:
        trades = _grown(trades, int(state.counters[C_TRADE_COUNT]), live + 1)
    else:
        state.grow(need)
    return events, trades


def _grown(buffer: np.ndarray, used: int, extra: int) -> np.ndarray:
    capacity = max(16, buffer.shape[0])
    while capacity - used < extra:
        capacity *= 2
    grown = np.empty(capacity, buffer.dtype)
    grown[:used] = buffer[:used]
    return grown


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
        events, trades = _grown_for(status, state, events, trades, int(counters[C_EVENT_COUNT]))


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


def _pow2_at_least(n: int) -> int:
    return 1 << max(4, (n - 1).bit_length())


def dense_ids(actions: np.ndarray, n_new: int) -> int:
    """Size of the direct id table: every id of the batch when they are dense (at most
    4 per new order, plus slack), else 0 and the hash holds them all."""
    ids = actions["order_id"]
    if not n_new or len(ids) == 0:
        return 0
    highest = int(ids.max())
    return highest + 1 if highest < 4 * n_new + 4096 else 0


def run_batch(config: ExchangeConfig, actions: np.ndarray, parties: Sequence[str], *,
              direct_ids: int | None = None) -> BatchResult:
    """Apply ``actions`` (ACTION_DTYPE, in order) to a fresh exchange.

    ``parties[i]`` names party index ``i`` in ``actions['party']``; config providers
    missing from it are appended. Raises ValueError if an index is out of range.
    ``direct_ids`` overrides the size of the direct id table (tests); it never changes
    the result, only where ids are kept.
    """
    if actions.dtype != ACTION_DTYPE:
        raise ValueError("run_batch: actions must have exchange.schema.ACTION_DTYPE")
    actions = _one_layout(actions)
    parties = list(parties)
    party_index = {name: i for i, name in enumerate(parties)}
    if len(actions):
        if actions["party"].max() >= len(parties) or actions["party"].min() < -1:
            raise ValueError("run_batch: a party index is outside the parties list")
        if actions["instrument"].max() >= len(config.instruments):
            raise ValueError("run_batch: an instrument index is outside the configuration")
        _check_stp_codes(actions, "run_batch")
    n_new = int(np.count_nonzero(actions["action"] == ACT_NEW))
    direct = dense_ids(actions, n_new) if direct_ids is None else direct_ids
    state = BookState(config, order_capacity=max(1024, n_new // 4),
                      id_capacity=_pow2_at_least(2 * n_new + 2) if not direct else 1024,
                      party_capacity=max(64, len(parties) + len(config.providers)),
                      direct_ids=direct)
    register_providers(config, state, party_index, parties)
    # Generous capacities cost nothing until written (np.empty pages are committed on
    # first touch), and they spare the copy of a mid-run growth.
    events = np.empty(max(64, 3 * len(actions)), EVENT_DTYPE)
    trades = np.empty(max(64, len(actions)), TRADE_DTYPE)
    events, trades = run_kernel(state, actions, events, trades)
    book = np.empty(int(state.counters[C_LIVE]), BOOK_DTYPE)
    dump_book(state.arrays, book)
    return BatchResult(events[: state.counters[C_EVENT_COUNT]],
                       trades[: state.counters[C_TRADE_COUNT]], book, parties, state, config)


# ------------------------------------------------------------ per call
_ONE_BP = Decimal("0.0001")


def _short(value) -> str:
    """``repr`` of an argument cut to about 40 characters, for error messages."""
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _word(value, words: dict, enum_type, field: str):
    if isinstance(value, enum_type):
        return int(value)
    code = words.get(value) if isinstance(value, str) else None
    if code is None:
        raise ValueError(f"{field}: {_short(value)} is not one of {', '.join(words)}")
    return int(code)


def _integer(value, field: str, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{field}: {_short(value)} is not an integer")
    value = int(value)
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise ValueError(f"{field}: {_short(value)} is outside int64")
    return value


def _quantity(value) -> int:
    """A quantity: an int64 other than -2**63, which stands for "no value" in the records
    (docs/RULES.md §5 qty); such a quantity could not be echoed in its REJECTED event."""
    value = _integer(value, "qty")
    if value == -_INT64_MAX - 1:
        raise ValueError(f"qty: {value} is outside -(2**63-1)..2**63-1")
    return value


def _decimal(value, field: str, allow_int: bool = True) -> Decimal:
    """An exact decimal from plain decimal text, a finite Decimal or (prices) an int.

    Floats are refused: they cannot carry prices exactly. A negative Decimal or int is
    a number, so as a price it is BAD_PRICE (outside the band), not an error."""
    if isinstance(value, str):
        if not _DECIMAL_RE.fullmatch(value):
            raise ValueError(f"{field}: {_short(value)} is not a plain decimal number")
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{field}: {_short(value)} is not a finite decimal")
        return value
    if allow_int and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return Decimal(int(value))
    kinds = "a str, Decimal or int" if allow_int else "a str or Decimal"
    raise ValueError(f"{field}: {_short(value)} is a {type(value).__name__}; give {kinds}")


class _Entries:
    """The compiled entry points the per-call API calls directly (``kernel.load``):
    Numba's type dispatch (~0.7 us a call) buys nothing when our own arrays always
    match the one signature each kernel has. Loaded once per process."""

    def __init__(self, state: BookState, events: np.ndarray, trades: np.ndarray, action: np.ndarray):
        book, out = state.arrays, (events, trades)
        self.process_one = load(process_one, book, out, action, *([0] * 15))
        load(process, action, 0, book, out)
        self.dump_book = load(dump_book, book, np.empty(0, BOOK_DTYPE))
        self.lookup = load(orderids_nb.lookup, state.id_direct, state.id_keys, state.id_slots, 0)
        self.level_price = load(level_price, state.ladders, 0, 0)
        self.next_level = load(next_level, state.bits, state.ladders, 0, 0)
        load(orderids_nb.rehash, state.id_keys, state.id_slots, state.id_keys, state.id_slots)


_ENTRIES: _Entries | None = None


def _entry(dispatcher, args):
    """The compiled entry point for ``args``' types, compiled or loaded from the cache
    without running the kernel. RuntimeError rather than a silent fallback to the
    dispatcher (whose type check costs about 0.7 us a call)."""
    from numba import typeof
    signature = tuple(typeof(a) for a in args)
    dispatcher.compile(signature)
    entry = getattr(dispatcher.overloads.get(signature), "entry_point", None)
    if entry is None or len(dispatcher.overloads) != 1:
        raise RuntimeError(f"{dispatcher.py_func.__qualname__}: expected one compiled signature, "
                           f"found {len(dispatcher.overloads)}")
    return entry


_LEAN_SUBMIT = _LEAN_CANCEL = _PROCESS = None


def _load_lean(table) -> None:
    global _LEAN_SUBMIT, _LEAN_CANCEL
    if _LEAN_SUBMIT is None:
        _LEAN_SUBMIT = _entry(lean_nb.submit_traded, (table, *[0] * 14))
        _LEAN_CANCEL = _entry(lean_nb.cancel_open, (table, *[0] * 6))


_SIDES: dict[Any, int] = {**SIDE_WORDS, **{s: int(s) for s in Side}}
_TYPES: dict[Any, int] = {**TYPE_WORDS, **{t: int(t) for t in OrderType}}
_TIFS: dict[Any, int] = {**TIF_WORDS, **{t: int(t) for t in Tif}}
_STPS: dict[Any, int] = {**STP_WORDS, **{m: int(m) for m in Stp}}


class Exchange:
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
        global _ENTRIES
        self.load_seconds = 0.0
        if _ENTRIES is None:
            with Stopwatch() as watch:
                announce_compile("the matching engine", COMPILE_SECONDS, CALL_KERNELS)
                _ENTRIES = _Entries(self._state, self._events, self._trades, self._action)
            self.load_seconds = watch.seconds

    # ----------------------------------------------------------- conversion
    def _party(self, party) -> int:
        index = self._party_index.get(party) if type(party) is str else None
        if index is not None:
            return index
        if not isinstance(party, str) or not _PARTY_RE.fullmatch(party):
            raise ValueError(f"party: {_short(party)} does not match {PARTY_PATTERN}")
        index = self._party_index[party] = len(self._parties)
        self._parties.append(party)
        self._state.ensure_parties(len(self._parties))
        return index

    def _time(self, ts) -> int:
        if ts is None:
            return self._ts
        if type(ts) is int and self._ts <= ts <= _INT64_MAX:
            return ts
        ts = _integer(ts, "ts")
        if ts < self._ts:
            raise ValueError(f"ts: {ts} is lower than the last action's ts {self._ts}")
        return ts

    def _order_id(self, order_id) -> int:
        order_id = _integer(order_id, "order_id")
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
        units = whole_multiple(_decimal(price, "price"), self._price_unit, _INT64_MAX)
        cell = (PRICE_INVALID, 0) if units is None else (PRICE_OK, units)
        if text and len(self._prices) < 100_000:
            self._prices[price] = cell
        return cell

    def _apply(self, action, ts, order_id=0, party=-1, instrument=-1, side=0, order_type=0,
               tif=0, price=(PRICE_ABSENT, 0), qty=NO_VALUE, min_grade=GRADE_ABSENT, goodput=0,
               stp=0):
        state = self._state
        while True:
            count = _ENTRIES.process_one(state.arrays, (self._events, self._trades), self._action,
                                 self._seq, ts, action, order_id, party, instrument, side,
                                 order_type, tif, price[0], price[1], qty, min_grade, goodput, stp)
            if count >= 0:
                break
            # grow, then retry the same action from scratch
            self._events, self._trades = _grown_for(-count, state, self._events, self._trades, 0)
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
            side_code = _word(side, SIDE_WORDS, Side, "side")
        type_code = _TYPES.get(order_type) if isinstance(order_type, (str, OrderType)) else None
        if type_code is None:
            type_code = _word(order_type, TYPE_WORDS, OrderType, "order_type")
        tif_code = _TIFS.get(tif) if isinstance(tif, (str, Tif)) else None
        if tif_code is None:
            tif_code = _word(tif, TIF_WORDS, Tif, "tif")
        stp_code = _STPS.get(stp) if isinstance(stp, (str, Stp)) else None
        if stp_code is None:
            stp_code = _word(stp, STP_WORDS, Stp, "stp")
        if type(qty) is not int or not -_INT64_MAX <= qty <= _INT64_MAX:
            qty = _quantity(qty)
        if order_id is None:
            order_id = int(self._state.counters[C_MAX_ID]) + 1
            if order_id > _INT64_MAX:
                raise ValueError("order_id: no next id after 2**63-1; give order_id explicitly")
        elif type(order_id) is not int or not 0 < order_id <= _INT64_MAX:
            order_id = self._order_id(order_id)
        instrument_index = self._instrument_index.get(instrument, -1) if type(instrument) is str else None
        if instrument_index is None or instrument == "":
            raise ValueError(f"instrument: {_short(instrument)} is not a symbol")
        if min_grade is None or min_grade == "":
            grade = GRADE_ABSENT
        elif isinstance(min_grade, str):
            grade = self._grade_index.get(min_grade, GRADE_UNKNOWN)
        else:
            raise ValueError(f"min_grade: {_short(min_grade)} is not a grade name")
        price_cell = self._price(price)
        ts = self._time(ts)
        return self._apply(ACT_NEW, ts, order_id, self._party(party), instrument_index,
                           side_code, type_code, tif_code, price_cell, qty, grade, stp=stp_code)

    def cancel(self, order_id: int, party: str, *, ts: int | None = None) -> list[Event]:
        """End a resting order of ``party``."""
        if type(order_id) is not int or not 0 < order_id <= _INT64_MAX:
            order_id = self._order_id(order_id)
        return self._apply(ACT_CANCEL, self._time(ts), order_id, self._party(party))

    def replace(self, order_id: int, party: str, *, price: PriceArg | None = None, qty: int | None = None,
                ts: int | None = None) -> list[Event]:
        """New price and/or new open quantity for a resting order (docs/RULES.md §4 Replace)."""
        order_id = self._order_id(order_id)
        qty = None if qty is None else _quantity(qty)
        price_cell = self._price(price)
        ts = self._time(ts)
        return self._apply(ACT_REPLACE, ts, order_id, self._party(party), price=price_cell,
                           qty=NO_VALUE if qty is None else qty)

    def regrade(self, party: str, goodput: str | Decimal, *, ts: int | None = None) -> list[Event]:
        """Record a provider's measured goodput (a fraction); registers new providers."""
        number = _decimal(goodput, "goodput", allow_int=False)
        bp = whole_multiple(number, _ONE_BP, BP) if 0 <= number <= 1 else None
        if bp is None:
            raise ValueError(f"goodput: {_short(goodput)} must be in [0, 1] with at most 4 decimal places")
        ts = self._time(ts)
        return self._apply(ACT_GRADE, ts, party=self._party(party), goodput=bp)

    def close(self, instrument: str, *, ts: int | None = None) -> list[Event]:
        """End trading in an instrument: its resting orders are cancelled."""
        if not isinstance(instrument, str) or instrument == "":
            raise ValueError(f"instrument: {_short(instrument)} is not a symbol")
        return self._apply(ACT_CLOSE, self._time(ts),
                           instrument=self._instrument_index.get(instrument, -1))

    def apply(self, actions: np.ndarray) -> np.ndarray:
        """Many actions at once (ACTION_DTYPE rows), at batch speed; returns their events
        (EVENT_DTYPE). For simulations that decide a whole step of orders together.

        Rows use ``party_index()`` / ``instrument_index()`` codes and prices in the exchange's
        price unit ``config.price_unit`` (docs/RULES.md §2); their ``seq`` column is
        overwritten with the next seqs. Raises ValueError, changing nothing,
        if a code is out of range or ``ts`` goes backwards."""
        if not isinstance(actions, np.ndarray) or actions.dtype != ACTION_DTYPE or actions.ndim != 1:
            raise ValueError("actions: expected a 1-D array of exchange.schema.ACTION_DTYPE")
        actions = _one_layout(actions)  # a strided or read-only array: seq is set on a copy
        if len(actions) == 0:
            return np.empty(0, EVENT_DTYPE)
        problems, highest = check_and_number(actions, len(self._parties), len(self.config.instruments),
                                             self._ts, self._seq)  # one pass; numbers the seqs
        if problems & (1 << actions_nb.BAD_PARTY):
            raise ValueError("actions: a party code is not one of party_index()'s")
        if problems & (1 << actions_nb.BAD_INSTRUMENT):
            raise ValueError("actions: an instrument code is outside the configuration")
        if problems & (1 << actions_nb.BAD_STP):
            _check_stp_codes(actions, "actions")
        if problems:
            raise ValueError("actions: ts must not go backwards")
        ts = actions["ts"]
        state = self._state
        if len(state.id_direct) <= highest < 4 * (self._seq + len(actions)) + 4096:
            # Dense ids (counted up from 1): the direct table, doubled as they pass its end.
            state.reserve(dense_ids=max(2 * len(state.id_direct), _pow2_at_least(highest + 1)))
        state.counters[C_EVENT_COUNT] = 0
        global _PROCESS
        if _PROCESS is None:
            _PROCESS = _entry(process, (actions, 0, state.arrays, (self._events, self._trades)))
        # The entry point skips the dispatcher's type check (about 5 us a call); the rows
        # are C-contiguous and writeable (_one_layout above), the one type it is compiled for.
        self._events, self._trades = run_kernel(state, actions, self._events, self._trades, _PROCESS)
        self._seq += len(actions)
        self._ts = int(ts[-1])
        return self._events[: state.counters[C_EVENT_COUNT]].copy()

    def list_instrument(self, instrument: Instrument | dict[str, Any]) -> None:
        """List one more instrument while trading runs, after the others (docs/API.md).

        ``instrument``: an ``Instrument`` or a dict with an ``[[instrument]]`` table's keys,
        under the checks and messages of a configuration file (ConfigError, a ValueError;
        nothing changes). Not an input row: it takes no seq and causes no event."""
        config = with_listed(self.config, instrument)
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

    # -------------------------------------------------------------- queries
    def trades(self) -> list[Trade]:
        """Every trade so far, in execution order."""
        symbols = [ins.symbol for ins in self.config.instruments]
        grades = [g.name for g in self.config.grades]
        return [
            Trade(tid, seq, ts, symbols[ins], buy, sell, self._parties[buyer], self._parties[seller],
                  grades[grade], price, qty, Side(aggressor))
            for tid, seq, ts, ins, buy, sell, buyer, seller, grade, price, qty, aggressor
            in self._trades[: self._state.counters[C_TRADE_COUNT]].tolist()
        ]

    def _resting(self, row) -> RestingOrder:
        grades = self.config.grades
        return RestingOrder(
            self.config.instruments[row[0]].symbol, Side(row[1]), row[2], self._parties[row[3]],
            row[4], row[5], grades[row[6]].name if row[6] >= 0 else None,
            grades[row[7]].name if row[7] >= 0 else None, Tif(row[8]), row[9], Stp(row[10]))

    def book(self, instrument: str | None = None) -> list[RestingOrder]:
        """Resting orders in priority order (instruments in config order, bids then asks)."""
        rows = np.empty(int(self._state.counters[C_LIVE]), BOOK_DTYPE)
        _ENTRIES.dump_book(self._state.arrays, rows)
        orders = [self._resting(r) for r in rows.tolist()]
        if instrument is not None:
            self._known_instrument(instrument)
            orders = [o for o in orders if o.instrument == instrument]
        return orders

    def order(self, order_id: int) -> RestingOrder | None:
        """The resting order with this id, or None when it is not resting."""
        st = self._state
        slot = int(_ENTRIES.lookup(st.id_direct, st.id_keys, st.id_slots, int(order_id)))
        if slot < 0:
            return None
        ladder = int(st.order_i32[O_LADDER, slot])
        n_grades = len(self.config.grades)
        instrument, rest = divmod(ladder, 2 * n_grades)
        side, tier = divmod(rest, n_grades)
        price = int(_ENTRIES.level_price(st.ladders, ladder, int(st.order_i32[O_LEVEL, slot])))
        modes = int(st.order_i32[O_TIF, slot])
        return self._resting((instrument, side, int(st.order_i64[O_ID, slot]),
                              int(st.order_i32[O_PARTY, slot]), price,
                              int(st.order_i64[O_OPEN, slot]), tier if side == SELL else -1,
                              tier if side == BUY else -1, modes & TIF_MASK,
                              int(st.order_i64[O_ARRIVAL, slot]), modes >> STP_SHIFT))

    def _known_instrument(self, instrument) -> int:
        index = self._instrument_index.get(instrument) if isinstance(instrument, str) else None
        if index is None:
            raise ValueError(f"instrument: unknown symbol {_short(instrument)}")
        return index

    def _known_grade(self, grade) -> int:
        index = self._grade_index.get(grade) if isinstance(grade, str) else None
        if index is None:
            raise ValueError(f"grade: {_short(grade)} is not a grade name")
        return index

    def _ladder(self, instrument: str, side: int, tier: int) -> int:
        n_grades = len(self.config.grades)
        return (self._known_instrument(instrument) * 2 + side) * n_grades + tier

    def _best_price(self, ladder: int):
        st = self._state
        best = st.ladders[ladder, L_BEST]
        if best >= st.ladders[ladder, L_NLEVELS]:
            return None
        return int(_ENTRIES.level_price(st.ladders, ladder, int(best)))

    def best_bid(self, instrument: str, grade: str | None = None) -> int | None:
        """Highest effective bid (ticks) among bids that admit ``grade`` (None: all bids)."""
        first = 0 if grade is None else self._known_grade(grade)
        prices = [self._best_price(self._ladder(instrument, BUY, m))
                  for m in range(first, len(self.config.grades))]
        prices = [p for p in prices if p is not None]
        return max(prices) if prices else None

    def best_ask(self, instrument: str, grade: str | None = None) -> int | None:
        """Lowest raw ask (ticks) of ``grade``; None: the raw price of the ask first in
        priority (lowest effective price, then earliest arrival; docs/RULES.md §4).
        Cost: one look per grade."""
        if grade is not None:
            return self._best_price(self._ladder(instrument, SELL, self._known_grade(grade)))
        st = self._state
        best = None  # (raw price, factor, arrival of the level's first order)
        for g, info in enumerate(self.config.grades):
            ladder = self._ladder(instrument, SELL, g)
            price = self._best_price(ladder)
            if price is None:
                continue
            head = int(st.level_link[LV_HEAD, st.ladders[ladder, L_BASE] + st.ladders[ladder, L_BEST]]) - 1
            arrival = int(st.order_i64[O_ARRIVAL, head])
            if best is None:
                best = (price, info.floor_bp, arrival)
                continue
            mine, theirs = price * best[1], best[0] * info.floor_bp  # effective prices, cross-multiplied
            if mine < theirs or (mine == theirs and arrival < best[2]):
                best = (price, info.floor_bp, arrival)
        return None if best is None else best[0]

    def depth(self, instrument: str, side: str | Side, levels: int = 10) -> list[tuple[int, str, int]]:
        """(price ticks, grade, open qty) per price level and grade, best first.

        Asks rank by effective price, bids by price; equal ranks by grade order.
        For bids the grade column is the min_grade."""
        side_code = _word(side, SIDE_WORDS, Side, "side")
        st = self._state
        rows = []
        for g, info in enumerate(self.config.grades):
            ladder = self._ladder(instrument, side_code, g)
            level = int(st.ladders[ladder, L_BEST])
            for _ in range(levels):
                if level >= st.ladders[ladder, L_NLEVELS]:
                    break
                price = int(_ENTRIES.level_price(st.ladders, ladder, level))
                qty = int(st.level_qty[st.ladders[ladder, L_BASE] + level])
                rank = Decimal(price) * BP / info.floor_bp if side_code == SELL else -price
                rows.append((rank, g, price, info.name, qty))
                level = int(_ENTRIES.next_level(st.bits, st.ladders, ladder, level + 1))
        rows.sort(key=lambda r: (r[0], r[1]))
        return [(price, name, qty) for _, _, price, name, qty in rows[:levels]]

    # ------------------------------------------------------------ branching
    def snapshot(self) -> tuple:
        """An opaque copy of the whole state; ``restore`` brings it back."""
        n_trades = int(self._state.counters[C_TRADE_COUNT])
        return (self._state.copy(), list(self._parties), self._seq, self._ts,
                self._trades[:n_trades].copy(), self.config)

    def restore(self, snapshot: tuple) -> None:
        state, parties, seq, ts, trades, config = snapshot
        if config is not self.config:  # instruments listed since (or before) the snapshot
            self._use_config(config)
        self._state = state.copy()
        self._parties = list(parties)
        self._party_index = {name: i for i, name in enumerate(self._parties)}
        self._seq, self._ts = seq, ts
        self._trades = np.empty(max(64, 2 * len(trades)), TRADE_DTYPE)
        self._trades[: len(trades)] = trades
        self._prices = {}

    def _budget(self) -> int:
        return self._memory_limit if self._memory_limit is not None else memory_budget.default_budget()

    def fork(self) -> "Exchange":
        """An independent copy: both continue on their own. Cost: a copy of every state
        array (its size is checked against the memory budget first: MemoryBudgetError)."""
        st = self._state
        copied = sum(getattr(st, name).nbytes for name in st.arrays_names()) + self._trades.nbytes
        memory_budget.check(2 * copied, self._budget(), "fork() of this exchange (two copies of its state)",
                            option="Exchange(config, memory_limit=BYTES)")
        clone = type(self).__new__(type(self))
        clone.load_seconds = 0.0
        clone.config = self.config
        clone._memory_limit = self._memory_limit
        clone._instrument_index = self._instrument_index
        clone._grade_index = self._grade_index
        clone._price_unit = self._price_unit
        clone._events = np.empty(64, EVENT_DTYPE)
        clone._action = np.zeros(1, ACTION_DTYPE)
        clone.restore(self.snapshot())
        return clone

    def state_digest(self) -> str:
        """sha256 hex of the canonical state text (exchange.digest; the same format as
        ``ReferenceExchange.state_digest``). Cost: O(resting orders + ids ever accepted)."""
        st = self._state
        n_grades = len(self.config.grades)
        grade_names = [g.name for g in self.config.grades] + ["ungraded"]
        providers = [(name, int(st.parties[P_GOODPUT, index]), grade_names[min(grade, n_grades)])
                     for index, name in enumerate(self._parties)
                     if (grade := int(st.parties[P_GRADE, index])) != NOT_A_PROVIDER]
        closed = [ins.symbol for i, ins in enumerate(self.config.instruments) if st.instruments[i, I_CLOSED]]
        used_ids = np.concatenate([np.flatnonzero(st.id_direct), st.id_keys[st.id_keys != 0]]).tolist()
        return digest.state_digest(
            next_seq=self._seq, last_ts=self._ts, trade_count=int(st.counters[C_TRADES]),
            grades=[(g.name, g.floor_bp) for g in self.config.grades], providers=providers,
            closed=closed, used_ids=used_ids, book=self.book())

    # ---------------------------------------------------------------- frames
    def to_arrow(self, what: str, prices: str = "decimal", *,
                 events: np.ndarray | None = None) -> pyarrow.Table:
        """Every trade so far ("trades"), the resting orders ("book"), or ``events`` ("events")
        as a ``pyarrow.Table`` with the columns and units of the replay's CSV files
        (docs/RULES.md §5, docs/API.md "Frames"). ``prices``: "decimal" (exact ``decimal128``)
        or "ticks" (int64). The exchange keeps no event history (it would cost every call),
        so "events" converts the EVENT_DTYPE rows you pass (what ``apply()`` returned).
        Every column is built anew (records are rows, Arrow columns contiguous: no zero-copy)."""
        from exchange.files import frames

        frames.check_choice(what, frames.TABLES, "what")
        if what == "trades":
            records = self._trades[: self._state.counters[C_TRADE_COUNT]]
        elif what == "book":
            records = np.empty(int(self._state.counters[C_LIVE]), BOOK_DTYPE)
            _ENTRIES.dump_book(self._state.arrays, records)
        elif not isinstance(events, np.ndarray) or events.dtype != EVENT_DTYPE or events.ndim != 1:
            raise ValueError("events: expected a 1-D EVENT_DTYPE array (what apply() returned); "
                             "the exchange keeps no event history")
        else:
            records = events
        if what != "events" and events is not None:
            raise ValueError(f"events: only for what='events', not {what!r}")
        return frames.to_arrow(what, records, self.config, self._parties, prices)

    def to_pandas(self, what: str, prices: str = "decimal", *,
                  events: np.ndarray | None = None) -> pandas.DataFrame:
        """``to_arrow``'s table as a pandas DataFrame (``pd.ArrowDtype`` columns, no float);
        needs ``pip install compute-exchange[pandas]``."""
        from exchange.files import frames

        return frames.to_pandas(self.to_arrow(what, prices, events=events))

    def to_polars(self, what: str, prices: str = "decimal", *,
                  events: np.ndarray | None = None) -> polars.DataFrame:
        """``to_arrow``'s table as a polars DataFrame; needs ``pip install compute-exchange[polars]``."""
        from exchange.files import frames

        return frames.to_polars(self.to_arrow(what, prices, events=events))

    # --------------------------------------------------------------- helpers
    @property
    def parties(self) -> list[str]:
        """Party names by index (as used in arrays)."""
        return list(self._parties)

    # ------------------------------------------- embedding and reserving (exchange/embed.py)
    def embedded(self) -> Embedding:
        """Lend this exchange's state to your own ``@njit`` code: ``with ex.embedded() as emb:``
        then pass ``emb.handle`` to functions that call ``exchange.embed``'s actions."""
        return Embedding(self)

    def embed_handle(self) -> tuple:
        """``(book, (events, trades), row, clock)``: the tuple ``exchange.embed``'s njit
        functions take, sharing this exchange's arrays. Valid until this exchange grows an
        array or takes a Python call; ``embed_sync`` hands its counters back. Cost: O(1)."""
        clock = np.zeros(CLOCK_SIZE, np.int64)
        clock[CK_SEQ] = clock[CK_HANDED] = self._seq
        clock[CK_TS] = self._ts
        clock[CK_PARTIES] = len(self._parties)
        clock[CK_FIRST_TRADE] = self._state.counters[C_TRADE_COUNT]
        return (self._state.arrays, (self._events, self._trades), self._action, clock)

    def embed_current(self, handle: tuple) -> bool:
        """Does ``handle`` still hold this exchange's arrays and counters?"""
        clock = handle[3]
        return (handle[0] is self._state.arrays and handle[1][0] is self._events
                and handle[1][1] is self._trades and int(clock[CK_PARTIES]) == len(self._parties)
                and int(clock[CK_SEQ]) == int(clock[CK_HANDED]) == self._seq)

    def embed_sync(self, handle: tuple) -> None:
        """Take up the seq and ts that njit actions through ``handle`` advanced. ValueError
        (nothing changes) if this exchange took Python calls meanwhile: both would have
        used the same seqs."""
        clock = handle[3]
        seq, handed = int(clock[CK_SEQ]), int(clock[CK_HANDED])
        if seq == handed:
            return
        if self._seq != handed or handle[0] is not self._state.arrays:
            raise ValueError("embed: this exchange took Python calls while njit actions through its handle "
                             "were not synced; call Embedding.sync() (or resume) after each njit call")
        self._seq, self._ts = seq, int(clock[CK_TS])
        clock[CK_HANDED] = seq

    def grow(self, need: int) -> None:
        """Grow the array a kernel's NEED_* code names (exchange.nb.layout), as the per-call
        path does: event buffer to twice the live orders, the rest by doubling."""
        self._events, self._trades = _grown_for(need, self._state, self._events, self._trades, 0)

    def reserve(self, *, orders: int = 0, ids: int = 0, dense_ids: int = 0, events: int = 0,
                trades: int = 0) -> None:
        """Room up front, so the hot path never stops to grow: ``orders`` resting at once,
        ``ids`` more order ids in the hash, order ids below ``dense_ids`` in a direct table
        (4 bytes an id, and the fastest lookup: for ids counted up from 1), ``events``
        from one action, ``trades`` more trades. Cost: a copy of each array it widens."""
        _integer(orders, "orders"), _integer(ids, "ids"), _integer(dense_ids, "dense_ids")
        _integer(events, "events"), _integer(trades, "trades")
        st = self._state
        st.reserve(orders=orders, ids=ids, dense_ids=dense_ids)
        if events > len(self._events):
            self._events = _grown(self._events, 0, events)
        used = int(st.counters[C_TRADE_COUNT])
        if trades > len(self._trades) - used:
            self._trades = _grown(self._trades, used, trades)

    # ---------------------------------------------------- lean per call (ints in, ints out)
    _lean = None  # what submit_fast / cancel_fast pass, and what it was built from (_lean_rebuilt)

    def _lean_rebuilt(self) -> tuple:
        """(book arrays, events, trades, address table, handle) for the lean calls: the table
        (exchange/nb/lean_nb.py) is rebuilt whenever one of its arrays was replaced, since a
        stale one would point at freed memory; the handle keeps the arrays alive."""
        handle = self.embed_handle()
        table = lean_nb.address_table(handle)
        _load_lean(table)
        self._lean = (handle[0], handle[1][0], handle[1][1], table, handle)
        return self._lean

    def submit_fast(self, party: int, instrument: int, side: int, qty: int, price: int = NO_PRICE,
                    order_type: int = 0, tif: int = 0, order_id: int | None = None,
                    min_grade: int = GRADE_ABSENT, stp: int = 0, ts: int | None = None) -> int:
        """``submit`` with codes, returning the GPU-hours the order traded instead of its
        events (same seq, same state, same trades). Codes as in action arrays: ``party_index``,
        ``instrument_index`` (-1: unknown), ``Side``/``OrderType``/``Tif``/``Stp`` values, a grade
        index or -1, ``price`` in ``config.price_unit`` (``exchange.embed.NO_PRICE``: none).
        ValueError for a code out of range or a non-int. Cost: about a third of ``submit``
        (1.0 us against 3.1 us a resting order; docs/API.md "Embedding the engine")."""
        if order_id is None:
            order_id = int(self._state.counters[C_MAX_ID]) + 1
        if ts is None:
            ts = self._ts
        if not (type(party) is type(instrument) is type(side) is type(qty) is type(price) is type(order_type)
                is type(tif) is type(order_id) is type(min_grade) is type(stp) is type(ts) is int):
            raise ValueError("submit_fast: every argument is an int code (see exchange.embed)")
        lean = self._lean
        if (lean is None or lean[0] is not self._state.arrays or lean[1] is not self._events
                or lean[2] is not self._trades):
            lean = self._lean_rebuilt()  # first: it also loads the kernels
        try:
            traded = _LEAN_SUBMIT(lean[3], self._seq, self._ts, len(self._parties), ts, order_id, party,
                                  instrument, side, order_type, tif, price, qty, min_grade, stp)
        except OverflowError:
            raise ValueError("submit_fast: an argument is outside int64") from None
        if traded < 0:  # an array was full (grown now: run it again) or a code out of range
            self._lean_refused(traded)
            return self.submit_fast(party, instrument, side, qty, price, order_type, tif, order_id,
                                    min_grade, stp, ts)
        self._seq += 1
        self._ts = ts
        return traded

    def cancel_fast(self, order_id: int, party: int, ts: int | None = None) -> int:
        """``cancel`` with a party code; returns the open quantity it cancelled (0 when the
        cancel was rejected). Same seq and state as ``cancel``."""
        if ts is None:
            ts = self._ts
        if not type(order_id) is type(party) is type(ts) is int:
            raise ValueError("cancel_fast: every argument is an int code (see exchange.embed)")
        lean = self._lean
        if (lean is None or lean[0] is not self._state.arrays or lean[1] is not self._events
                or lean[2] is not self._trades):
            lean = self._lean_rebuilt()
        try:
            cancelled = _LEAN_CANCEL(lean[3], self._seq, self._ts, len(self._parties), ts, order_id, party)
        except OverflowError:
            raise ValueError("cancel_fast: an argument is outside int64") from None
        if cancelled < 0:
            self._lean_refused(cancelled)
            return self.cancel_fast(order_id, party, ts)
        self._seq += 1
        self._ts = ts
        return cancelled

    def _lean_refused(self, code: int) -> None:
        """Grow what a -NEED_* code names (the caller retries), or raise for an argument code."""
        if -code in (NEED_SLOTS, NEED_IDS, NEED_EVENTS, NEED_TRADES):
            self.grow(-code)
            return
        raise ValueError(explain(code))

    def trade_count(self) -> int:
        """Trades so far (the last trade id). O(1), unlike ``len(trades())``."""
        return int(self._state.counters[C_TRADES])
