"""Contract terms and take-or-pay settlement (docs/RULES.md §6-§7).

    contracts = read_trades_csv("trades.csv", config)      # or Contracts.from_trades / from_trade_records
    settlement = Settlement(config, contracts)
    settlement.settle_period(metering_rows)                 # period by period, or settle_through(K, metering)
    write_reports(settlement, "out/")                       # statements, parties, netting, obligations

Streaming, as ``compute-exchange settle`` does it (memory independent of the number of lines):

    settlement = Settlement(config, contracts, keep_lines=False)
    settlement.add_metering(read_metering_grid("metering.csv", contracts))
    write_outputs(settlement, "bills/", last=29, fmt="csv")   # or "parquet"; replaces bills/ as a whole
"""
import exchange.nb  # noqa: F401  (first: Numba cache stamps for every kernel, exchange/nb/cache_stamp.py)

from .csvio import InputError
from .metering import Metering, read_metering
from .metering_gen import generate_metering
from .metering_grid import MeteringGrid, read_metering_grid
from .report import write_outputs, write_reports
from .schedule import Contracts, read_trades_csv
from .settlement import LineBlock, PeriodResult, Settlement

__all__ = [
    "Contracts", "InputError", "LineBlock", "Metering", "MeteringGrid", "PeriodResult", "Settlement",
    "generate_metering", "read_metering", "read_metering_grid", "read_trades_csv", "write_outputs",
    "write_reports",
]
