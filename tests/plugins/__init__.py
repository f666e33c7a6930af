"""Adapters that tests install the way a third party would (an entry point, no core edits)."""
