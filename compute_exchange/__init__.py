"""The compute-exchange command: the one module that wires every subcommand."""
