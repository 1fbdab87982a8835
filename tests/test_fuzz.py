"""Fuzzing in CI: mutated order files through the replay command, and random hostile
calls through both engines. The long runs are ``python3 -m tests.fuzz`` (README)."""
from __future__ import annotations

import random
from decimal import Decimal

import pytest

from exchange.engine import Exchange
from exchange.reference import ReferenceExchange
from tests import fuzz


def test_mutated_order_files_exit_cleanly_and_agree_with_the_reference():
    """A few thousand mutated rows (fixed seed), strict and lenient: exit 0 or 2, no
    traceback, every problem as FILE:LINE: column:, lenient events = the reference's."""
    stats = {}
    failures = fuzz.run(rows=3000, seed=20261129, window=60, stats=stats)
    assert failures == []
    # Not vacuous: most strict runs met a malformed row, and the lenient ones were compared.
    assert stats["cases"] == 50 and stats["refused"] > 25 and stats["compared"] > 45


def test_the_fuzzer_sees_a_disagreement():
    """The oracle is not a tautology: an event changed in the replay's output is caught."""
    events = [("0", "1", "7", "ACCEPTED", "", "5", "5")]
    assert fuzz.agreement(events, events) is None
    assert fuzz.agreement([("0", "1", "7", "ACCEPTED", "", "5", "4")], events) is not None


# ------------------------------------------------------------------ the API
HOSTILE = [None, "", " ", "buy", "sell", "A", "Z", "GPU-X", "GPU-Y", "pA", "pB", "b1", "b2", "日本",
           "x" * 100, "\n", 0, 1, -1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**30, True, 1.5,
           float("nan"), Decimal("1e999999"), Decimal("-1e999999"), Decimal("1e-999999"),
           Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("2.000"), Decimal("2.0005"),
           "2.000", "2.0000000000000000000000000000000001", "1e3", "-2", ".5", "100.001", "0.0999",
           "0.9500", "1.00001", ["b1"], {"a": 1}, (), b"b1", object()]
PRICES = ["1.000", "2.000", "2.005", "99.999", "0.100", None]


def _pick(rng, good, hostile_share=0.3):
    return rng.choice(HOSTILE) if rng.random() < hostile_share else rng.choice(good)


def _call(rng, ex_ids):
    """One random call as (method name, args, kwargs): plausible values with hostile ones mixed in."""
    kind = rng.choice(["submit", "submit", "submit", "cancel", "replace", "regrade", "close"])
    if kind == "submit":
        kwargs = {"order_type": _pick(rng, ["limit", "limit", "market", ""]),
                  "tif": _pick(rng, ["gtc", "ioc", "fok", "post_only", ""], 0.1),
                  "min_grade": _pick(rng, [None, "A", "B", "D"], 0.1)}
        if rng.random() < 0.5:
            kwargs["order_id"] = _pick(rng, list(range(1, 40)), 0.2)
        args = (_pick(rng, ["pA", "pB", "pC", "b1", "b2"], 0.1), _pick(rng, ["GPU-X", "GPU-Y", "NOPE"], 0.1),
                _pick(rng, ["buy", "sell"], 0.1), _pick(rng, [1, 5, 10, 0], 0.1), _pick(rng, PRICES, 0.2))
        return kind, args, kwargs
    if kind in ("cancel", "replace"):
        args = (_pick(rng, list(range(1, 40)), 0.2), _pick(rng, ["pA", "pB", "b1", "b2"], 0.1))
        kwargs = {}
        if kind == "replace":
            kwargs = {"price": _pick(rng, PRICES, 0.2), "qty": _pick(rng, [None, 1, 3, 0], 0.2)}
        return kind, args, kwargs
    if kind == "regrade":
        return kind, (_pick(rng, ["pA", "pB", "pN"], 0.1), _pick(rng, ["0.9600", "0.5", "1", "0.85"], 0.3)), {}
    return kind, (_pick(rng, ["GPU-X", "GPU-Y", "NOPE"], 0.2),), {}


@pytest.mark.parametrize("seed", range(4))
def test_random_hostile_calls_raise_only_value_error_and_both_engines_agree(config, seed):
    """docs/API.md: bad arguments raise ValueError (nothing else) and change nothing; every
    call that returns gives the same events in both engines."""
    rng = random.Random(seed)
    numba, reference = Exchange(config), ReferenceExchange(config)
    for step in range(1500):
        name, args, kwargs = _call(rng, None)
        outcomes = []
        for ex in (numba, reference):
            try:
                outcomes.append(("events", getattr(ex, name)(*args, **kwargs)))
            except ValueError:
                outcomes.append(("ValueError", None))
            except Exception as error:  # noqa: BLE001 - any other exception is the failure
                pytest.fail(f"step {step}: {type(ex).__name__}.{name}{args!r:.200} {kwargs!r:.200} "
                            f"raised {type(error).__name__}: {error}")
        assert outcomes[0] == outcomes[1], f"step {step}: {name}{args!r:.200} {kwargs!r:.200}"
    assert numba.book() == reference.book()
    assert numba.trades() == reference.trades()
