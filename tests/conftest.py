"""Shared fixtures: every engine that implements docs/API.md, and a small test configuration."""
from __future__ import annotations

from decimal import Decimal

import pytest

from exchange.config import ExchangeConfig, Grade, Instrument, Provider
from exchange.reference import ReferenceExchange


def _engine_classes():
    """(id, class) of each engine available: the reference always, the Numba engine once it exists."""
    classes = [("reference", ReferenceExchange)]
    try:
        import exchange.engine as engine_module
    except ModuleNotFoundError as error:
        # Only a missing engine module is skipped; an engine that exists but fails to import
        # is an error the test run must show.
        if error.name != "exchange.engine":
            raise
        engine_module = None
    if engine_module is not None and hasattr(engine_module, "Exchange"):
        classes.append(("numba", engine_module.Exchange))
    return classes


ENGINE_CLASSES = _engine_classes()


@pytest.fixture(params=[cls for _, cls in ENGINE_CLASSES], ids=[name for name, _ in ENGINE_CLASSES])
def engine_cls(request):
    """An engine class: ``ReferenceExchange`` and, when available, ``exchange.engine.Exchange``."""
    return request.param


def make_test_config() -> ExchangeConfig:
    """Two instruments (tick 0.001, band 0.100..100.000), grades A/B/C/D, providers at each grade
    plus one ungraded.

    Providers: ``pA`` 0.9600 (A), ``pA2`` 0.9500 (A, exactly on the floor), ``pB`` 0.9200 (B),
    ``pC`` 0.8500 (C), ``pD`` 0.7000 (D, on the floor), ``pU`` 0.5000 (ungraded).
    """
    def instrument(symbol):
        return Instrument(symbol=symbol, tick=Decimal("0.001"), price_min=Decimal("0.100"),
                          price_max=Decimal("100.000"), max_qty=1_000_000, delivery_periods=30)

    return ExchangeConfig(
        instruments=(instrument("GPU-X"), instrument("GPU-Y")),
        grades=(Grade("A", 9500), Grade("B", 9000), Grade("C", 8000), Grade("D", 7000)),
        providers=(
            Provider("pA", 9600),
            Provider("pA2", 9500),
            Provider("pB", 9200),
            Provider("pC", 8500),
            Provider("pD", 7000),
            Provider("pU", 5000),
        ),
        source="<tests>",
    )


@pytest.fixture
def config() -> ExchangeConfig:
    return make_test_config()


@pytest.fixture
def ex(engine_cls, config):
    """A fresh engine of each available class over the test configuration."""
    return engine_cls(config)
