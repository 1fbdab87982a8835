"""Benchmarks: workloads, the throughput runner (``python -m bench``) and pytest-benchmark suites."""
