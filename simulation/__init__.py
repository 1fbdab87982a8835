"""A compute-market simulation on the exchange's public API (issue 6).

    from simulation import run_simulation
    result = run_simulation(days=30, seed=1, out="sim/")
    print(result.summary)

Pieces: ``agents`` (providers, buyers, market makers), ``market`` (the hourly
loop, delivery metering and settlement), ``whatif`` (fork and alternative),
``report`` (tables and digest), ``plots`` (PNG pictures), ``cli``
(``compute-exchange simulate``).
"""
from .api import SimulationResult, load_config, run_simulation
from .market import Branch, Market, SimulationError, SimulationParams
from .whatif import SCENARIOS, apply, run_branches

__all__ = [
    "Branch", "Market", "SCENARIOS", "SimulationError", "SimulationParams", "SimulationResult", "apply",
    "load_config", "run_branches", "run_simulation",
]
