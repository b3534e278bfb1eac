"""Benchmarks on the real local stack. Each prints its figures and a ratio against a plain
baseline measured in the same run; figures are medians of several runs (shared machines are
noisy: read ratios, not absolute numbers)."""
