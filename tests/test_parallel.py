"""exchange.parallel.run_batch_parallel gives run_batch's output byte for byte."""
import numpy as np
import pytest

from bench.workloads import mixed, standard
from exchange.engine import run_batch
from exchange.parallel import plan_shards, run_batch_parallel
from exchange.schema import ACT_CANCEL, ACT_GRADE, ACTION_DTYPE, EV_FILL


def assert_identical(a, b):
    for name in ("events", "trades", "book"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and len(x) == len(y), name
        if x.tobytes() != y.tobytes():
            first = int(np.flatnonzero(x != y)[0])
            raise AssertionError(f"{name} differ at row {first}: {x[first]} vs {y[first]}")
    assert a.parties == b.parties


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n_instruments,threads", [(2, 2), (4, 3), (7, 4), (5, 8)])
def test_identical_on_random_workloads(seed, n_instruments, threads):
    config, actions, parties = mixed(6000, seed, n_instruments=n_instruments)
    assert plan_shards(config, actions, min(threads, n_instruments)) is not None
    single = run_batch(config, actions, parties)
    parallel = run_batch_parallel(config, actions, parties, threads=threads)
    assert parallel.state is None  # really sharded
    assert_identical(single, parallel)
    assert len(single.trades) > 100 and np.count_nonzero(actions["action"] == ACT_GRADE) > 10


def test_trade_ids_are_renumbered_in_merged_order():
    config, actions, parties = mixed(20000, 11, n_instruments=3)
    parallel = run_batch_parallel(config, actions, parties, threads=3)
    assert np.array_equal(parallel.trades["trade_id"], np.arange(1, len(parallel.trades) + 1))
    fills = parallel.events[parallel.events["event"] == EV_FILL]
    assert np.all(np.diff(fills["trade_id"]) >= 0)
    assert np.all(np.diff(parallel.events["seq"]) >= 0)


def test_ids_shared_across_instruments_fall_back_to_one_core():
    config, actions, parties = mixed(6000, 3, n_instruments=4, reuse_rate=0.05, shared_ids=True)
    assert plan_shards(config, actions, 2) is None
    parallel = run_batch_parallel(config, actions, parties, threads=2)
    assert parallel.state is not None  # the single-core result
    assert_identical(run_batch(config, actions, parties), parallel)


def test_edge_cases():
    config, actions, parties = standard(3000, 5, n_instruments=3)
    # Cancels of ids no new row used (UNKNOWN_ORDER), one thread, more threads than instruments.
    odd = actions.copy()
    odd["order_id"][odd["action"] == ACT_CANCEL] += 10_000_000
    for threads in (1, 2, 3, 16):
        assert_identical(run_batch(config, odd, parties), run_batch_parallel(config, odd, parties, threads))
    empty = np.zeros(0, ACTION_DTYPE)
    assert_identical(run_batch(config, empty, parties), run_batch_parallel(config, empty, parties, 2))
    one = standard(2000, 5)
    assert_identical(run_batch(*one), run_batch_parallel(*one, threads=4))
    with pytest.raises(ValueError):
        run_batch_parallel(config, actions, parties[:3], threads=2)
