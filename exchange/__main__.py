"""``python -m exchange ...``: the compute-exchange command."""
import sys

from .cli import main

sys.exit(main())
