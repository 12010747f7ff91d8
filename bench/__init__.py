"""Benchmarks: mcard through its public API against the raw database driver, in one run.

``python -m bench`` (``--help`` for options) prints ops/s for mcard, ops/s for the raw driver
doing the same work (SHA-256 per card included) and their ratio.
"""
