"""Contract terms and take-or-pay settlement (SPEC §6-§7)."""
