"""Benchmarks: scripts that print figures (NLL within a CPU budget, speed-ups), run as python -m utils.bench.<name>."""
