"""Benchmarks (`make bench`): measured on this machine, reported as markdown under bench/."""
