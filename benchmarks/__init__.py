"""Benchmarks of the model (and of the live kernel where it can run): ``make bench``."""
