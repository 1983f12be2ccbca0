"""Benchmarks of SPEC §9, run by `make bench` (python -m bench [ID ...])."""
