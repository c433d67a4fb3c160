"""Benchmarks: `make bench` runs them and writes docs/benchmarks.md. Timing goals live here, not in tests."""
