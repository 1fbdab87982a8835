"""The minimal book (bench/minimal_book.py) is a fair yardstick: on the plain
workload it trades exactly what our engine trades and leaves the same book."""
import pytest

from bench.minimal_book import MinimalBook
from bench.workloads import plain, standard
from exchange.engine import run_batch
from exchange.schema import BOOK_DTYPE  # noqa: F401  (documents what run_batch's book holds)


def _ours(config, actions, parties):
    result = run_batch(config, actions, parties)
    trades = [(int(t["buy_order_id"]), int(t["sell_order_id"]), int(t["price"]), int(t["qty"]))
              for t in result.trades]
    book = [(int(r["instrument"]), "buy" if r["side"] == 0 else "sell", int(r["order_id"]),
             int(r["price"]), int(r["qty"])) for r in result.book]
    return trades, book


@pytest.mark.parametrize("n, seed", [(3_000, 1), (20_000, 7)])
def test_same_trades_and_book_as_the_engine_on_the_plain_workload(n, seed):
    config, actions, parties = plain(n, seed)
    minimal = MinimalBook(actions, len(config.instruments))
    n_fills = minimal.run()
    trades, book = _ours(config, actions, parties)
    assert n_fills > 100 and len(book) > 100  # the workload trades and rests
    assert [tuple(int(x) for x in row) for row in minimal.fills[:n_fills]] == trades
    assert minimal.resting() == book


def test_market_order_sweeps_levels_and_ioc_remainder_does_not_rest():
    config, actions, parties = standard(4, seed=1, single_grade=True)
    minimal_actions = actions.copy()
    # two asks at 2.000 and 2.001, then a market buy of 5 and an IOC buy at 2.000 for 9
    from exchange.schema import ACT_NEW, BUY, GTC, IOC, LIMIT, MARKET, SELL
    rows = [(SELL, LIMIT, GTC, 2000, 3), (SELL, LIMIT, GTC, 2001, 4),
            (BUY, MARKET, IOC, 0, 5), (BUY, LIMIT, IOC, 2001, 9)]
    for i, (side, kind, tif, price, qty) in enumerate(rows):
        minimal_actions[i]["action"] = ACT_NEW
        minimal_actions[i]["order_id"] = i + 1
        minimal_actions[i]["side"] = side
        minimal_actions[i]["order_type"] = kind
        minimal_actions[i]["tif"] = tif
        minimal_actions[i]["price"] = price
        minimal_actions[i]["qty"] = qty
        minimal_actions[i]["instrument"] = 0
    minimal = MinimalBook(minimal_actions, 1)
    n_fills = minimal.run()
    assert minimal.fills[:n_fills].tolist() == [[3, 1, 2000, 3], [3, 2, 2001, 2], [4, 2, 2001, 2]]
    assert minimal.resting() == []
