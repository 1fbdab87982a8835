"""Fuzzing in CI: mutated order files through the replay command, and random hostile
calls through both engines. The long runs are ``python3 -m tests.fuzz`` (README)."""
from __future__ import annotations

import pytest

from exchange.engine import Exchange
from exchange.oracles.reference import ReferenceExchange
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
@pytest.mark.parametrize("seed", range(4))
def test_random_hostile_calls_raise_only_value_error_and_both_engines_agree(config, seed):
    """docs/API.md: bad arguments raise ValueError (nothing else) and change nothing; every
    call that returns gives the same events in both engines; books and trades agree at the end."""
    assert fuzz.api_run(1500, seed, config) == []


def test_the_api_fuzzer_sees_another_exception():
    """Not vacuous: an engine that raises TypeError is reported."""
    class Broken(Exchange):
        def cancel(self, *_args, **_kwargs):
            raise TypeError("boom")

    failures = fuzz.api_run(300, 1, None, engines=(Broken, ReferenceExchange))
    assert failures and "TypeError" in failures[0]
