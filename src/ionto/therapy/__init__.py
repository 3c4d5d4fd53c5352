"""The clinical knowledge of Ionto.

Pure functions and frozen dataclasses: no I/O, no clock, no framework, no randomness without
a seed. Every clinical rule names its source (see :mod:`ionto.therapy.sources`).
"""
