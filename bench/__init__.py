"""Benchmarks of speed, load and faults; run each from the checkout's root as a module, e.g.
``python -m bench.bench_models`` (the checkout's code, whatever is installed). Those that start a
server use the tests' launcher (tests/web/live_server.py)."""
