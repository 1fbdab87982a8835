"""Shared fixtures: every engine that implements docs/API.md, and a small test configuration."""
from __future__ import annotations

import os
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import settings

from numba import njit

from exchange import embed
from exchange.config import ExchangeConfig, Grade, Instrument, Provider
from exchange.engine import Exchange
from exchange.oracles.invariants import check
from exchange.oracles.reference import ReferenceExchange
from exchange.schema import (
    ACT_CANCEL, ACT_GRADE, ACT_NEW, ACT_REPLACE, GRADE_ABSENT, NO_VALUE, PRICE_ABSENT, PRICE_OK, Event, EventType,
    Reason,
)


# ------------------------------------------------------------------ Hypothesis
def _commit_seed() -> int:
    """The seed of this run's Hypothesis examples: from the commit, so each commit tries new
    inputs and a rerun of one commit tries the same ones; a fixed seed outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        return int(head[:16], 16)
    except (OSError, subprocess.SubprocessError, ValueError):
        return 20261129


# ci (the default): 100 examples a test, seeded from the commit; long: a longer hunt, by hand.
# Both print the reproduction blob of a failure (@reproduce_failure).
settings.register_profile("ci", derandomize=False, print_blob=True, deadline=None)
settings.register_profile("long", print_blob=True, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if config.getoption("hypothesis_seed", None) is None:
        config.option.hypothesis_seed = str(_commit_seed())


def pytest_report_header(config):
    return (f"hypothesis seed {config.getoption('hypothesis_seed')} "
            "(from the commit; rerun a failure with --hypothesis-seed=N)")


# ------------------------------------------------------------------ engines
class CheckedExchange(Exchange):
    """The Numba engine, running ``exchange.oracles.invariants.check`` over its arrays after every
    call that can change them, so each rule scenario also checks the kernel's structure."""

    def _checked(self, result):
        check(self._state, self.config)
        return result

    def submit(self, *args, **kwargs):
        return self._checked(super().submit(*args, **kwargs))

    def cancel(self, *args, **kwargs):
        return self._checked(super().cancel(*args, **kwargs))

    def replace(self, *args, **kwargs):
        return self._checked(super().replace(*args, **kwargs))

    def regrade(self, *args, **kwargs):
        return self._checked(super().regrade(*args, **kwargs))

    def close(self, *args, **kwargs):
        return self._checked(super().close(*args, **kwargs))

    def apply(self, *args, **kwargs):
        return self._checked(super().apply(*args, **kwargs))

    def restore(self, *args, **kwargs):
        return self._checked(super().restore(*args, **kwargs))


@njit(cache=True)
def _forward(h, action, ts, order_id, party, instrument, side, order_type, tif, price, qty, min_grade, goodput,
             stp):
    """One action through the njit API (exchange.embed), as a user's @njit code calls it."""
    if action == ACT_NEW:
        return embed.new_order(h, ts, order_id, party, instrument, side, order_type, tif, price, qty, min_grade, stp)
    if action == ACT_CANCEL:
        return embed.cancel(h, ts, order_id, party)
    if action == ACT_REPLACE:
        return embed.replace(h, ts, order_id, party, price, qty)
    if action == ACT_GRADE:
        return embed.regrade(h, ts, party, goodput)
    return embed.close(h, ts, instrument)


class NjitExchange(Exchange):
    """The Numba engine driven through the njit API: each call's arguments are converted as
    ``Exchange`` converts them, then go through ``exchange.embed`` inside a compiled
    forwarder on the exchange's lent state (``embedded()``), growing and resuming as its
    users do; the events are read back from the event buffer."""

    def _apply(self, action, ts, order_id=0, party=-1, instrument=-1, side=0, order_type=0, tif=0,
               price=(PRICE_ABSENT, 0), qty=NO_VALUE, min_grade=GRADE_ABSENT, goodput=0, stp=0):
        # A price off the price unit (PRICE_INVALID) has no units: -1 is outside every band,
        # so it meets the same BAD_PRICE at the same point.
        units = embed.NO_PRICE if price[0] == PRICE_ABSENT else price[1] if price[0] == PRICE_OK else -1
        with self.embedded() as emb:
            while True:
                count = _forward(emb.handle, action, ts, order_id, party, instrument, side, order_type, tif,
                                 units, qty, min_grade, goodput, stp)
                if count >= 0:
                    break
                emb.resume(count)
        kinds, reasons = list(EventType), list(Reason)
        return [Event(seq, t, oid, kinds[kind], reasons[reason], None if q == NO_VALUE else q,
                      None if leaves == NO_VALUE else leaves, trade_id or None)
                for seq, t, oid, kind, reason, q, leaves, trade_id in self._events[:count].tolist()]


# (id, class) of each engine that implements docs/API.md.
ENGINE_CLASSES = [("reference", ReferenceExchange), ("numba", Exchange)]
# The same, as the rule scenarios run them: the Numba engine checks its invariants after every call.
CHECKED_ENGINE_CLASSES = [("reference", ReferenceExchange), ("numba", CheckedExchange)]


@pytest.fixture(params=[cls for _, cls in CHECKED_ENGINE_CLASSES],
                ids=[name for name, _ in CHECKED_ENGINE_CLASSES])
def engine_cls(request):
    """An engine class: ``ReferenceExchange``, and ``exchange.engine.Exchange`` checking its
    array invariants after every call."""
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
    """A fresh engine of each class over the test configuration."""
    return engine_cls(config)
