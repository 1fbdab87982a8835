"""Contract terms and take-or-pay settlement (docs/RULES.md §6-§7).

    contracts = read_trades_csv("trades.csv", config)      # or Contracts.from_trades / from_trade_records
    settlement = Settlement(config, contracts)
    settlement.settle_period(metering_rows)                 # period by period, or settle_through(K, metering)
    write_reports(settlement, "out/")                       # statements, parties, netting, obligations
"""
from .csvio import InputError
from .metering import Metering, read_metering
from .metering_gen import generate_metering
from .report import write_reports
from .schedule import Contracts, read_trades_csv
from .settlement import PeriodResult, Settlement

__all__ = [
    "Contracts", "InputError", "Metering", "PeriodResult", "Settlement", "generate_metering",
    "read_metering", "read_trades_csv", "write_reports",
]
