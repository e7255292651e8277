"""Benchmarks, run as modules from the project root: `python -m bench.bench_serving`."""
