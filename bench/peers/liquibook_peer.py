"""liquibook (PyPI ``liquibook``: SWIG bindings of the C++ LiquiBook engine).

Orders are ``SimpleOrder(is_buy, price, qty)``; IOC limits and market orders (price 0)
carry the immediate-or-cancel condition; fills are counted by an ``OrderListener``
(a Python callback per fill and per accept/cancel, which LiquiBook's book requires)."""
from . import CANCEL, GTC_LIMIT, MARKET_ORDER

NAME = "liquibook"
PACKAGE = "liquibook"


def available():
    import liquibook  # noqa: F401
    from importlib.metadata import version
    return version("liquibook")


def _listener_class():
    import liquibook

    class Counter(liquibook.OrderListener):
        def __init__(self):
            liquibook.OrderListener.__init__(self)
            self.trades = 0
            self.volume = 0

        def on_fill(self, order, matched_order, fill_qty, fill_cost):
            self.trades += 1
            self.volume += fill_qty

        def on_accept(self, order):
            pass

        def on_reject(self, order, reason):
            pass

        def on_cancel(self, order):
            pass

        def on_cancel_reject(self, order, reason):
            raise RuntimeError(f"liquibook: cancel rejected: {reason}")

        def on_replace(self, order, size_delta, new_price):
            pass

        def on_replace_reject(self, order, reason):
            pass

    return Counter


class Engine:
    def prepare(self, ops, config, actions, parties):
        return ops

    def run(self, ops):
        import liquibook
        book = liquibook.liquibook_book_OrderBook()
        listener = _listener_class()()
        book.set_order_listener(listener)
        make, add, cancel = liquibook.SimpleOrder, book.add, book.cancel
        ioc = liquibook.oc_immediate_or_cancel
        live = {}
        for kind, order_id, is_buy, qty, price in ops:
            if kind == CANCEL:
                cancel(live.pop(order_id))
            elif kind == GTC_LIMIT:
                order = make(is_buy, price, qty)
                live[order_id] = order
                add(order)
            else:
                add(make(is_buy, 0 if kind == MARKET_ORDER else price, qty, 0, ioc), ioc)
        return listener.trades, listener.volume
