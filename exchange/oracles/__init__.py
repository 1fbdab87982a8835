"""Test oracles: the reference engine and the array invariant checker."""
