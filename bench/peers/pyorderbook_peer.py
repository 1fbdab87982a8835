"""pyorderbook (PyPI ``pyorderbook``: a pure-Python heap-of-levels book, Decimal prices).

It has limit orders and cancels only: IOC limits and market orders are limits (market:
at an extreme price) whose resting remainder is cancelled at once."""
from . import CANCEL, GTC_LIMIT, MARKET_ORDER

NAME = "pyorderbook"
PACKAGE = "pyorderbook"


def available():
    import pyorderbook
    return pyorderbook.__version__


class Engine:
    def prepare(self, ops, config, actions, parties):
        import logging
        logging.getLogger("pyorderbook.book").setLevel(logging.WARNING)
        return ops

    def run(self, ops):
        from pyorderbook import Book, Order, Side
        book = Book()
        match, cancel = book.match, book.cancel
        live = {}
        trades = volume = 0
        for kind, order_id, is_buy, qty, price in ops:
            if kind == CANCEL:
                cancel(live.pop(order_id))
                continue
            if kind == MARKET_ORDER:
                price = 10**12 if is_buy else 1
            order = Order(Side.BID if is_buy else Side.ASK, "I0", price, qty)
            blotter = match(order)
            trades += len(blotter.trades)
            volume += qty - order.quantity
            if order.quantity:
                if kind == GTC_LIMIT:
                    live[order_id] = order
                else:
                    cancel(order)
        return trades, volume
