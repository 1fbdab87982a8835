"""The output floor (bench/output_floor.py) does the engine's work, not less: on the
plain workload each of its variants writes our engine's events and trades, byte for byte."""
import pytest

from bench.output_floor import VARIANTS, FloorBook, engine_output, same_output
from bench.runner import prepare_workload


@pytest.fixture(scope="module")
def plain_run():
    prepared = prepare_workload("plain", 3_000, warm_up=False)
    return prepared, engine_output(prepared)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_each_variant_writes_the_engines_events_and_trades(plain_run, variant):
    prepared, (events, trades) = plain_run
    assert len(trades) > 100 and len(events) > 3_000  # the rows trade, rest and cancel
    floor = FloorBook(VARIANTS[variant], prepared.actions, prepared.workload.config)
    assert same_output(floor, events, trades)


def test_a_single_changed_event_is_told_apart(plain_run):
    prepared, (events, trades) = plain_run
    changed = events.copy()
    changed[-1]["qty"] += 1
    floor = FloorBook(VARIANTS["output"], prepared.actions, prepared.workload.config)
    assert not same_output(floor, changed, trades)
