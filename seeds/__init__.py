"""Synthetic marketplace data: the demo set `make run` loads and benchmark data."""
