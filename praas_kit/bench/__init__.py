"""Benchmarks: scripts that measure the real path and save CSV + metadata."""
