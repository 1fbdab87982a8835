"""``python -m bench``: the throughput runner (see bench/README.md and bench/runner.py)."""
from bench.runner import main

main()
