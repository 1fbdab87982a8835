"""``python -m simulation simulate ...``: the simulate command without compute_exchange/cli.py."""
import sys

from .cli import main

sys.exit(main())
