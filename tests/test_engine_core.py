"""The engine core beyond the market rules: configuration refusals, best-price
tracking across wide jumps, array growth, the batch path and the invariant checker."""
import numpy as np
import pytest

from exchange.config import ConfigError, ExchangeConfig
from exchange.engine import Exchange, run_batch
from exchange.oracles.invariants import check
from exchange.oracles.reference import ReferenceExchange
from exchange.schema import ACT_NEW, ACTION_DTYPE, EventType, GRADE_ABSENT, NO_VALUE, PRICE_OK, Reason

WIDE = ExchangeConfig.from_toml("""
[[instrument]]
symbol = "W"
tick = "0.001"
price_min = "0.001"
price_max = "9999.999"

[[provider]]
party = "pA"
goodput = "0.99"
[[provider]]
party = "pD"
goodput = "0.71"
""")


def _config(body: str) -> ExchangeConfig:
    return ExchangeConfig.from_toml(body, source="test.toml")


INSTRUMENT = '[[instrument]]\nsymbol = "X"\ntick = "0.001"\nprice_min = "1.000"\nprice_max = "2.000"\n'


@pytest.mark.parametrize("body, message", [
    (INSTRUMENT.replace('price_max = "2.000"', 'price_max = "20000.000"'), "needs 19,999,001 price levels"),
    (INSTRUMENT.replace('price_min = "1.000"', 'price_min = "1.0005"'), "not a whole number of ticks"),
    (INSTRUMENT + "colour = 1\n", "unknown key 'colour'"),
    ("[grades]\nA = 9000\nB = 9000\n" + INSTRUMENT, "duplicate grade floor 9000"),
    (INSTRUMENT + '[[provider]]\nparty = "p"\ngoodput = "0.95555"\n', "more than 4 decimal places"),
    (INSTRUMENT.replace('tick = "0.001"', 'tick = "0"'), "tick must be > 0"),
    (INSTRUMENT + "take_or_pay = 10001\n", "instrument X: term take_or_pay = 10001 is outside 0..10000"),
    ("", "at least one [[instrument]]"),
])
def test_bad_configuration_is_refused_with_a_reason(body, message):
    with pytest.raises(ConfigError) as error:
        _config(body)
    assert message in str(error.value) and str(error.value).startswith("test.toml: ")


def test_float_config_numbers_are_read_through_their_shortest_repr():
    config = _config(INSTRUMENT.replace('tick = "0.001"', "tick = 0.001").replace('"1.000"', "1.1"))
    assert config.instruments[0].min_ticks == 1100


@pytest.mark.parametrize("engine_cls", [Exchange, ReferenceExchange], ids=["numba", "reference"])
def test_best_price_follows_a_flash_crash_across_millions_of_ticks(engine_cls):
    ex = engine_cls(WIDE)
    prices = ["9999.999", "5000.000", "2.000", "0.001", "7777.777", "0.002"]
    for i, price in enumerate(prices):
        ex.submit("pA", "W", "sell", 1, price, order_id=i + 1)
    expected = sorted(int(p.replace(".", "")) for p in prices)
    for best in expected:
        assert ex.best_ask("W") == best
        assert ex.submit("b", "W", "buy", 1, order_type="market")[1].event == EventType.FILL
        if engine_cls is Exchange:
            check(ex._state, WIDE)
    assert ex.best_ask("W") is None
    for price in ("0.005", "9000.000", "0.003"):  # bids from both ends of the band
        ex.submit("b", "W", "buy", 2, price)
    assert ex.best_bid("W") == 9_000_000
    ex.cancel(ex.book("W")[0].order_id, "b")
    assert ex.best_bid("W") == 5


def test_arrays_grow_by_doubling_and_keep_every_order():
    ex = Exchange(WIDE)
    start = ex._state.orders.shape[0]
    for i in range(3 * start):
        ex.submit("b", "W", "buy", 1 + i % 7, f"{1 + i % 500}.000", order_id=10 * i + 1)
    assert ex._state.orders.shape[0] >= 3 * start
    assert len(ex.book("W")) == 3 * start
    check(ex._state, WIDE)


def test_batch_and_per_call_give_the_same_events():
    rng = np.random.default_rng(7)
    n = 3000
    actions = np.zeros(n, ACTION_DTYPE)
    actions["seq"] = np.arange(n)
    actions["action"] = ACT_NEW
    actions["order_id"] = np.arange(1, n + 1)
    actions["party"] = rng.integers(0, 3, n)  # pA, pD, b
    actions["side"] = np.where(actions["party"] == 2, 0, rng.integers(0, 2, n))
    actions["price_state"] = PRICE_OK
    actions["price"] = rng.integers(1900, 2100, n)
    actions["qty"] = rng.integers(1, 9, n)
    actions["min_grade"] = GRADE_ABSENT
    batch = run_batch(WIDE, actions, ["pA", "pD", "b"])
    ex = Exchange(WIDE)
    events = []
    for row in actions.tolist():
        events += ex.submit(["pA", "pD", "b"][row[4]], "W", "sell" if row[6] else "buy", row[11],
                            f"{row[10] / 1000:.3f}", order_id=row[3])
    as_tuples = [(e.seq, e.ts, e.order_id, int(e.event), int(e.reason), e.qty,
                  NO_VALUE if e.leaves_qty is None else e.leaves_qty, e.trade_id or 0) for e in events]
    assert as_tuples == batch.events.tolist()
    assert len(batch.book) == len(ex.book())


def test_invariant_checker_catches_a_corrupted_book():
    narrow = ExchangeConfig.from_toml(INSTRUMENT + '[[provider]]\nparty = "pA"\ngoodput = "0.99"\n')
    ex = Exchange(narrow)
    ex.submit("pA", "X", "sell", 5, "1.500")
    ex.submit("b", "X", "buy", 5, "1.100")
    check(ex._state, narrow)
    broken = ex.fork()
    broken._state.orders[0]["open"] = 0  # a resting order with nothing open
    with pytest.raises(AssertionError, match="open quantity"):
        check(broken._state, narrow)
    broken = ex.fork()
    heads = broken._state.levels["head"]
    heads[np.flatnonzero(heads)[0]] = 0  # an order falls out of its queue (heads are slot + 1)
    with pytest.raises(AssertionError):
        check(broken._state, narrow)
    broken = ex.fork()
    broken._state.ladders[:, 2] = 0  # every best level points at level 0
    with pytest.raises(AssertionError, match="best level"):
        check(broken._state, narrow)


@pytest.mark.parametrize("engine_cls", [Exchange, ReferenceExchange], ids=["numba", "reference"])
def test_apply_runs_a_step_of_actions_like_the_same_calls_one_by_one(engine_cls):
    one_by_one, at_once = engine_cls(WIDE), engine_cls(WIDE)
    rows = np.zeros(4, ACTION_DTYPE)
    rows["action"] = ACT_NEW
    rows["order_id"] = [1, 2, 3, 4]
    rows["party"] = [at_once.party_index(p) for p in ("pA", "pD", "b", "b")]
    rows["side"] = [1, 1, 0, 0]
    rows["price_state"] = PRICE_OK
    rows["price"] = [2000, 1500, 2200, 1000]
    rows["qty"] = [3, 3, 5, 1]
    rows["min_grade"] = GRADE_ABSENT
    rows["ts"] = [5, 5, 6, 7]
    events = at_once.apply(rows)
    expected = []
    for party, side, price, qty, ts in [("pA", "sell", "2.000", 3, 5), ("pD", "sell", "1.500", 3, 5),
                                        ("b", "buy", "2.200", 5, 6), ("b", "buy", "1.000", 1, 7)]:
        expected += one_by_one.submit(party, "W", side, qty, price, ts=ts)
    assert [(e.seq, e.ts, e.order_id, e.event, e.qty) for e in expected] == [
        (r["seq"], r["ts"], r["order_id"], r["event"], r["qty"]) for r in events]
    assert at_once.state_digest() == one_by_one.state_digest()
    assert list(rows["seq"]) == [0, 1, 2, 3]
    rows["ts"] = 1
    with pytest.raises(ValueError, match="ts"):
        at_once.apply(rows)
    assert at_once.state_digest() == one_by_one.state_digest()  # nothing changed


@pytest.mark.parametrize("engine_cls", [Exchange, ReferenceExchange], ids=["numba", "reference"])
def test_a_call_that_raises_changes_nothing_not_even_the_party_table(engine_cls):
    ex = engine_cls(WIDE)
    digest = ex.state_digest()
    for bad in (lambda: ex.submit("newcomer", "W", "buy", 1.5, "2.000"),
                lambda: ex.submit("newcomer", "W", "buy", 1, 2.0),
                lambda: ex.replace(1, "newcomer", qty="3"),
                lambda: ex.regrade("newcomer", 0.9),
                lambda: ex.cancel(0, "newcomer")):
        with pytest.raises(ValueError):
            bad()
    assert ex.state_digest() == digest
    assert "newcomer" not in ex.parties
    assert ex.submit("b", "W", "buy", 1, "2.000")[0].seq == 0


def test_ladders_larger_than_memory_are_a_config_error_not_a_traceback(monkeypatch):
    import exchange.state as state_module

    real_zeros = np.zeros

    def zeros(shape, dtype=float):
        if np.prod(shape) > 10_000_000:  # pretend the machine cannot give this much
            raise MemoryError
        return real_zeros(shape, dtype)

    monkeypatch.setattr(state_module.np, "zeros", zeros)
    with pytest.raises(ConfigError, match=r"price ladders of 1 instruments need .* GiB .* narrow the bands"):
        Exchange(WIDE)


def test_where_ids_are_kept_never_changes_the_result():
    """Dense batch ids live in a direct table, others in the hash: split anywhere, same output."""
    from bench.workloads import standard

    config, actions, parties = standard(6000, seed=3)
    actions = actions.copy()
    actions["order_id"][::97] = 10**12 + actions["order_id"][::97]  # some far ids: always hashed
    actions["order_id"][50::101] = actions["order_id"][10::101][: len(actions["order_id"][50::101])]  # reuses
    runs = [run_batch(config, actions, parties, direct_ids=d) for d in (None, 0, 3000, 6001)]
    for result in runs:
        check(result.state, config)
    first = runs[0]
    for other in runs[1:]:
        assert other.events.tolist() == first.events.tolist()
        assert other.trades.tolist() == first.trades.tolist()
        assert other.book.tolist() == first.book.tolist()
    kinds = {Reason(r) for r in first.events["reason"]}
    assert {Reason.DUPLICATE_ID, Reason.UNKNOWN_ORDER} <= kinds  # reuses and cancels of ended ids happened


def test_the_kernels_read_the_state_tuple_by_the_names_it_is_built_from():
    """exchange/nb/layout.py's B_* constants index BookState.arrays; each must name its array."""
    from exchange.nb import layout
    from exchange.state import BookState

    names = BookState.arrays_names()
    constants = {value: name for name, value in vars(layout).items() if name.startswith("B_")}
    assert len(constants) == len(names)
    assert [constants[i] for i in range(len(names))] == ["B_" + n.upper() for n in names]


def test_ask_lists_are_kept_from_the_first_regrade_on():
    """A regrade cancels the provider's resting asks (docs/RULES.md §4). The kernel builds
    the providers' ask lists at the first regrade that changes a grade and keeps them from
    then on: asks that rest or end after it are on or off the list at the next regrade."""
    ex = Exchange(WIDE)
    ex.submit("pA", "W", "sell", 5, "3.000", order_id=1)
    ex.submit("pA", "W", "sell", 5, "2.000", order_id=2)
    ex.submit("pD", "W", "sell", 5, "2.500", order_id=3)
    check(ex._state, WIDE)
    regraded = ex.regrade("pA", "0.90")  # a grade lower: both of pA's asks, best price first
    assert [(e.order_id, e.reason) for e in regraded] == [(2, Reason.REGRADED), (1, Reason.REGRADED)]
    check(ex._state, WIDE)
    ex.submit("pA", "W", "sell", 5, "4.000", order_id=4)
    ex.submit("pA", "W", "sell", 5, "5.000", order_id=5)
    ex.cancel(4, "pA")
    check(ex._state, WIDE)
    assert [e.order_id for e in ex.regrade("pA", "0.99")] == [5]
    assert [o.order_id for o in ex.book()] == [3]


def test_a_book_large_enough_to_look_ahead_gives_the_reference_engines_results():
    """On LOOK_AHEAD_LADDERS ladders or more, ``process`` starts loading the level of each
    new order 8 rows ahead (a prefetch): events, trades and book are still those of the
    independent reference engine, rows applied one by one."""
    from bench.workloads import bench_config, route_cancels, standard
    from exchange.nb.matching_nb import LOOK_AHEAD_LADDERS

    config = bench_config(520, price_min="1.000", price_max="5.000")
    assert 2 * len(config.instruments) * len(config.grades) >= LOOK_AHEAD_LADDERS
    _, actions, parties = standard(3000, 9, n_instruments=520, config=config, mid=1500)
    route_cancels(actions)
    batch = run_batch(config, actions, parties)
    engines = [Exchange(config), ReferenceExchange(config)]
    results = []
    for engine in engines:
        rows = actions.copy()
        rows["party"] = np.array([engine.party_index(p) for p in parties])[actions["party"]]
        results.append(engine.apply(rows).tolist())
    assert results[0] == results[1] == batch.events.tolist()
    assert engines[0].state_digest() == engines[1].state_digest()
    assert len(batch.trades) > 100 and len(batch.book) > 500  # orders met and rested across instruments


_IN_BOUNDS_RUN = """
import hashlib, sys
from numba.core import config as numba_config
from bench.workloads import mixed
from exchange.engine import run_batch
digest = hashlib.sha256()
for n_instruments in (3, 520):  # 520 x 2 sides x 4 grades: a book that looks ahead
    config, actions, parties = mixed(6000, 5, n_instruments=n_instruments)
    result = run_batch(config, actions, parties)
    for records in (result.events, result.trades, result.book):
        digest.update(records.tobytes())
print(numba_config.BOUNDSCHECK, digest.hexdigest())
"""


def test_no_kernel_indexes_outside_its_arrays(tmp_path):
    """The kernels compile without negative-index wraparound (exchange/nb/kernel.py): an
    index below zero would read outside its array rather than wrap. Under
    NUMBA_BOUNDSCHECK=1 every index is checked (IndexError), so a run of every kind of
    action (regrades, replaces, reused ids, closes, unknown codes), on a small book and on
    one large enough to look ahead, passing with the checks on and giving the same bytes
    as without them, shows that none is."""
    import os
    import subprocess
    import sys

    runs = [subprocess.run([sys.executable, "-c", _IN_BOUNDS_RUN], capture_output=True, text=True, timeout=600,
                           env={**os.environ, "NUMBA_BOUNDSCHECK": flag, "NUMBA_CACHE_DIR": str(tmp_path / flag)})
            for flag in ("1", "0")]  # a cache each: its key does not tell checked code from unchecked
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    (checked, checked_digest), (unchecked, unchecked_digest) = (run.stdout.split() for run in runs)
    assert (checked, unchecked) == ("1", "0")
    assert len(checked_digest) == 64 and checked_digest == unchecked_digest
