"""The simulation's one error type (its own module so every layer of simulation/ can raise it)."""


class SimulationError(ValueError):
    """Options or a configuration the simulation cannot run with; the message says why."""
