"""orderly-chaos (PyPI ``orderly-chaos``: a C++ price-time book behind ctypes).

It has limit, market and cancel; an IOC limit is a limit followed by a cancel of
what rests. Trades are counted by its ``on_trade`` callback."""
from . import CANCEL, GTC_LIMIT, IOC_LIMIT

NAME = "orderly-chaos"
PACKAGE = "orderly-chaos"


def available():
    import orderly_chaos
    return orderly_chaos.__version__


class Engine:
    def prepare(self, ops, config, actions, parties):
        return ops

    def run(self, ops):
        from orderly_chaos import LimitOrderBook, Side
        count = [0, 0]

        def on_trade(trade):
            count[0] += 1
            count[1] += trade.quantity

        book = LimitOrderBook(on_trade=on_trade)
        buy, sell = Side.BUY, Side.SELL
        limit, market, cancel = book.limit, book.market, book.cancel
        for kind, order_id, is_buy, qty, price in ops:
            if kind == CANCEL:
                cancel(order_id)
            elif kind == GTC_LIMIT:
                limit(buy if is_buy else sell, order_id, qty, price)
            elif kind == IOC_LIMIT:
                if limit(buy if is_buy else sell, order_id, qty, price) < qty:
                    cancel(order_id)
            else:
                market(buy if is_buy else sell, order_id, qty)
        book.close()
        return count[0], count[1]
