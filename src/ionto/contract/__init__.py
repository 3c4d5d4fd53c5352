"""The machine interface of shared/CONTRACT.md: JSON in, therapy objects, JSON out.

Parsing and rendering live here, apart from ``ionto.therapy`` (which stays free of I/O and
frameworks) and from ``ionto.cli`` (which stays a thin shell around these functions).
"""
