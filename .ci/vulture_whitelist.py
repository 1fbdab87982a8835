"""Names vulture (the dead-code check of .ci/run) cannot see used: called by a framework.

Each line names the code that uses it. Add a name here only with that reason.
"""
# pytest collects bench/bench_*.py (pytest-benchmark) by their test_ names.
test_batch_standard  # noqa
test_kernel_standard  # noqa
test_per_call_standard  # noqa
test_memory_per_order  # noqa
test_warm_start  # noqa
test_replay_throughput  # noqa
test_settle_1m_contracts_30_periods  # noqa
test_settle_kernel_only  # noqa
test_clearing_100k_parties_1m_obligations  # noqa
test_compression_100k_parties_1m_obligations  # noqa
test_settle_streams_at_scale  # noqa
test_njit_per_action_standard  # noqa
test_lean_per_call_plain  # noqa
test_apply_in_chunks_standard  # noqa

# pytest hooks (tests/conftest.py) and the option they set for the Hypothesis plugin.
pytest_configure  # noqa
pytest_report_header  # noqa
hypothesis_seed  # noqa

# Hypothesis state machine rules and invariants (tests/test_stateful.py).
amend_a_resting_order  # noqa
snapshot_restore_continue_equals_continue  # noqa
same_book_and_trades  # noqa
same_answers_to_every_query  # noqa
kernel_arrays_hold  # noqa
quantity_is_conserved  # noqa

# liquibook calls these on its listener (bench/peers/liquibook_peer.py).
on_fill  # noqa
on_accept  # noqa
on_reject  # noqa
on_cancel_reject  # noqa
on_replace_reject  # noqa
fill_cost  # noqa
matched_order  # noqa
size_delta  # noqa

# Public result attribute for callers of exchange.parallel.run_batch_parallel (documented there).
shard_states  # noqa

# decimal.localcontext() contexts: setting the precision is how they are used
# (contracts/metering.py, contracts/schedule.py).
prec  # noqa

# An autouse pytest fixture (tests/test_replay.py): pytest calls it, nobody names it.
_kernels_loaded  # noqa

# A Hypothesis rule of the state machine (tests/test_stateful.py).
meet_an_own_order  # noqa
list_an_instrument  # noqa
apply_a_step  # noqa
# The njit API's functions that users' @njit code calls (exchange/embed.py; examples/njit_agents.py,
# outside vulture's paths, calls room).
room  # noqa

# pytest collects the state machine through this name (tests/test_stateful.py).
TestEnginesAgree  # noqa

# Numba calls the unboxing, cast and conversion test of exact_int64 (exchange/nb/exact_int.py).
_as_int64  # noqa
can_convert_to  # noqa
_unbox_exact  # noqa
