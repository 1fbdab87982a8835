"""Ours, lean per-call path: ``Exchange.submit_fast``/``cancel_fast`` from Python, one call
per action, ints in and the traded quantity out (no ``Event`` objects built)."""
from exchange.embed import NO_PRICE
from exchange.engine import Exchange

from . import CANCEL, IOC_LIMIT, MARKET_ORDER

NAME = "ours: per call, lean (submit_fast)"
PACKAGE = None


def available():
    return "this repo"


class Engine:
    def prepare(self, ops, config, actions, parties):
        """Per op: (True, submit_fast's positional args) or (False, cancel_fast's), with
        party and instrument codes and prices in the price unit, as action arrays hold them."""
        exchange = Exchange(config)
        codes = [exchange.party_index(p) for p in parties]
        exchange.submit_fast(codes[0], 0, 1, 1, 1000)  # load the kernels outside the timing
        per_tick = int(config.instruments[0].tick / config.price_unit)
        prepared = []
        for (kind, order_id, is_buy, qty, price), party in zip(ops, actions["party"].tolist()):
            if kind == CANCEL:
                prepared.append((False, (order_id, codes[party])))
            else:
                market = kind == MARKET_ORDER
                prepared.append((True, (codes[party], 0, 0 if is_buy else 1, qty,
                                        NO_PRICE if market else price * per_tick, 1 if market else 0,
                                        1 if kind == IOC_LIMIT else 0, order_id)))
        return config, parties, prepared

    def run(self, prepared):
        config, parties, calls = prepared
        exchange = Exchange(config)
        for name in parties:
            exchange.party_index(name)
        submit, cancel = exchange.submit_fast, exchange.cancel_fast
        volume = 0
        for is_new, args in calls:
            if is_new:
                traded = submit(*args)
                if traded:
                    volume += traded
            else:
                cancel(*args)
        return exchange.trade_count(), volume
