"""run_batch's reused output buffers (exchange/buffers.py) and its book read on demand:
a result's records are never written by a later batch while anything references them,
a dropped result's buffers are written again, and reuse never changes a byte."""
import pickle
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from bench.workloads import standard
from exchange.buffers import OutputBuffers
from exchange.config import ExchangeConfig
from exchange.engine import BatchResult, BatchStream, Exchange, release_buffers, run_batch
from exchange.schema import ACT_NEW, ACTION_DTYPE, BUY, EVENT_DTYPE, GRADE_ABSENT, PRICE_OK, SELL, TRADE_DTYPE

ONE_MARKET = ExchangeConfig.from_toml("""
[[instrument]]
symbol = "W"
tick = "0.001"
price_min = "0.001"
price_max = "9999.999"

[[provider]]
party = "pA"
goodput = "0.99"
""")


def _records(result) -> tuple[bytes, bytes]:
    return result.events.tobytes(), result.trades.tobytes()


@pytest.fixture(scope="module")
def two_batches():
    """Two different standard batches of 5,000 actions."""
    return standard(5000, seed=1), standard(5000, seed=2)


def test_a_live_result_is_never_overwritten_by_later_batches(two_batches):
    first, second = two_batches
    release_buffers()
    kept = run_batch(*first)
    before = _records(kept)
    later = [run_batch(*second) for _ in range(3)]  # more batches than the pool keeps buffers
    assert _records(kept) == before
    for other in later:
        assert not np.shares_memory(kept.events, other.events)
        assert not np.shares_memory(kept.trades, other.trades)


def test_a_slice_of_a_dropped_result_keeps_its_records(two_batches):
    first, second = two_batches
    release_buffers()
    fills = run_batch(*first).events[100:200]  # the result is gone, this view of its buffer is not
    before = fills.tobytes()
    for _ in range(3):
        run_batch(*second)
    assert fills.tobytes() == before


def test_a_dropped_results_buffers_are_written_by_the_next_batch(two_batches):
    first, second = two_batches
    release_buffers()
    result = run_batch(*first)
    events, trades = weakref.ref(result.events.base), weakref.ref(result.trades.base)
    del result
    again = run_batch(*second)
    assert again.events.base is events()
    assert again.trades.base is trades()


def test_a_reused_buffer_gives_the_bytes_of_a_fresh_one(two_batches):
    """Whatever a reused buffer held before, the kernel writes every field of every record it counts."""
    first, _ = two_batches
    release_buffers()
    fresh = run_batch(*first)
    expected = _records(fresh)
    events, trades = weakref.ref(fresh.events.base), weakref.ref(fresh.trades.base)
    del fresh
    events().view(np.uint8)[:] = 0xA5  # garbage in every byte the next batch may find
    trades().view(np.uint8)[:] = 0x5A
    reused = run_batch(*first)
    assert reused.events.base is events()
    assert _records(reused) == expected


def _sweep(n_asks: int) -> np.ndarray:
    """``n_asks`` asks of 1 GPU-hour by pA at 2.000, then one buy of all of them: two fill
    events per ask from one action, more than run_batch's first 3 events per action."""
    actions = np.zeros(n_asks + 1, ACTION_DTYPE)
    actions["seq"] = np.arange(n_asks + 1)
    actions["action"] = ACT_NEW
    actions["order_id"] = np.arange(1, n_asks + 2)
    actions["party"] = 0
    actions["side"] = SELL
    actions["price_state"] = PRICE_OK
    actions["price"] = 2000
    actions["qty"] = 1
    actions["min_grade"] = GRADE_ABSENT
    actions[-1]["party"], actions[-1]["side"], actions[-1]["price"], actions[-1]["qty"] = 1, BUY, 3000, n_asks
    return actions


def test_a_buffer_grown_during_the_batch_keeps_the_same_events():
    actions = _sweep(1000)
    release_buffers()
    grown = run_batch(ONE_MARKET, actions, ["pA", "lab"])
    assert grown.events.base.shape[0] > 3 * len(actions)  # the events buffer grew during the run
    ex = Exchange(ONE_MARKET)
    assert [ex.party_index("pA"), ex.party_index("lab")] == [0, 1]
    assert grown.events.tolist() == ex.apply(actions.copy()).tolist()
    assert len(grown.trades) == 1000
    expected = _records(grown)
    larger = weakref.ref(grown.events.base)
    del grown
    again = run_batch(ONE_MARKET, actions, ["pA", "lab"])
    assert again.events.base is larger()  # the pool kept the grown buffer
    assert _records(again) == expected


def test_batches_on_several_threads_each_get_their_own_records():
    batches = [standard(3000, seed=s) for s in range(4)]
    expected = [_records(run_batch(*b)) for b in batches]
    start = threading.Barrier(4)

    def job(k: int) -> bool:
        start.wait()
        same = True
        for _ in range(5):
            result = run_batch(*batches[k])  # the previous result is alive while this one runs
            same = same and _records(result) == expected[k]
        return same

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(job, range(4))) == [True] * 4


def test_the_pool_keeps_two_buffers_per_type_and_none_above_its_cap():
    pool = OutputBuffers(per_dtype=2, max_bytes=1000 * EVENT_DTYPE.itemsize)
    held = [pool.take(EVENT_DTYPE, 100) for _ in range(3)]
    assert len({id(b) for b in held}) == 3  # none idle: each take is a fresh buffer
    del held
    assert pool.release() == 2 * 100 * EVENT_DTYPE.itemsize
    big = weakref.ref(pool.take(EVENT_DTYPE, 1001))
    assert big() is None  # above the cap: not kept, gone with its last user
    small = pool.take(EVENT_DTYPE, 10)
    assert pool.take(EVENT_DTYPE, 10) is not small  # in use: never handed out twice
    assert pool.take(EVENT_DTYPE, 11) is not small  # too short for 11 records


def test_release_buffers_lets_the_memory_go(two_batches):
    first, _ = two_batches
    release_buffers()
    result = run_batch(*first)
    events = weakref.ref(result.events.base)
    del result
    assert release_buffers() >= 3 * 5000 * EVENT_DTYPE.itemsize
    assert events() is None


def test_the_book_read_after_later_batches_is_the_book_at_the_end_of_its_own(two_batches):
    first, second = two_batches
    result = run_batch(*first)
    for _ in range(3):
        run_batch(*second)
    config, actions, parties = first
    stream = BatchStream(config)
    stream.run(actions, parties, np.empty(64, EVENT_DTYPE), np.empty(64, TRADE_DTYPE))
    book, _ = stream.finish()
    assert len(book) > 1000
    assert result.book.tobytes() == book.tobytes()
    assert result.book is result.book  # read once, then kept


def test_the_book_read_on_several_threads_at_once_is_one_book(two_batches):
    first, _ = two_batches
    expected = run_batch(*first).book.tobytes()
    result = run_batch(*first)
    start = threading.Barrier(4)

    def read(_):
        start.wait()
        return result.book.tobytes()

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(read, range(4))) == [expected] * 4


def test_a_pickled_result_carries_its_book_and_records(two_batches):
    first, _ = two_batches
    result = run_batch(*first)
    copy = pickle.loads(pickle.dumps(result))  # the book was never read before pickling
    assert _records(copy) == _records(result)
    assert copy.book.tobytes() == result.book.tobytes()
    assert copy.parties == result.parties
    assert copy.state.counters.tolist() == result.state.counters.tolist()


def test_a_result_needs_its_book_or_the_state_to_read_it_from(two_batches):
    first, _ = two_batches
    result = run_batch(*first)
    with pytest.raises(ValueError, match="give the book, or the state"):
        BatchResult(result.events, result.trades, None, result.parties, None)
    ready = BatchResult(result.events, result.trades, result.book, result.parties, None)
    assert ready.book is result.book
