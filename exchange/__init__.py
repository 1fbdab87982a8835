"""Compute exchange: a goodput-graded order book for GPU-hour contracts."""
import exchange.nb  # noqa: F401  (first: Numba cache stamps for every kernel, exchange/nb/cache_stamp.py)
from exchange.config import ConfigError, ExchangeConfig, Grade, Instrument, Provider, SettlementTerms
from exchange.schema import Event, EventType, OrderType, Reason, RestingOrder, Side, Stp, Tif, Trade

__all__ = [
    "ConfigError", "ExchangeConfig", "Grade", "Instrument", "Provider", "SettlementTerms",
    "Event", "EventType", "OrderType", "Reason", "RestingOrder", "Side", "Stp", "Tif", "Trade",
]
