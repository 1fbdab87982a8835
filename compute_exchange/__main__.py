"""``python -m compute_exchange ...``: the compute-exchange command."""
import sys

from compute_exchange.cli import main

sys.exit(main())
