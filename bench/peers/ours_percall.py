"""Ours, per-call path: ``Exchange.submit``/``cancel`` from Python, one call per action."""
from exchange.engine import Exchange

from . import CANCEL, IOC_LIMIT, MARKET_ORDER

NAME = "ours: per call (Exchange)"
PACKAGE = None


def available():
    return "this repo"


def calls(ops, config, parties_of):
    """Prepared ``(is_new, args, kwargs)`` per op, prices as decimal text."""
    symbol = config.instruments[0].symbol
    tick = config.instruments[0].tick
    out = []
    for (kind, order_id, is_buy, qty, price), party in zip(ops, parties_of):
        if kind == CANCEL:
            out.append((False, (order_id, party), {}))
            continue
        market = kind == MARKET_ORDER
        out.append((True, (party, symbol, "buy" if is_buy else "sell", qty,
                           None if market else str(price * tick)),
                    {"order_type": "market" if market else "limit",
                     "tif": "ioc" if kind == IOC_LIMIT else "gtc", "order_id": order_id}))
    return out


class Engine:
    engine = Exchange

    def prepare(self, ops, config, actions, parties):
        self.engine(config).submit(parties[0], config.instruments[0].symbol, "sell", 1, "1.000")  # warm
        return config, calls(ops, config, [parties[p] for p in actions["party"].tolist()])

    def run(self, prepared):
        config, prepared_calls = prepared
        exchange = self.engine(config)
        submit, cancel = exchange.submit, exchange.cancel
        for is_new, args, kwargs in prepared_calls:
            (submit if is_new else cancel)(*args, **kwargs)
        trades = exchange.trades()
        return len(trades), sum(t.qty for t in trades)
