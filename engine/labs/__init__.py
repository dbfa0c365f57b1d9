"""Laboratory and vital-sign values read against published reference ranges, and what is a trend.

``ranges``: cited reference intervals per LOINC concept and the flag of a value against them.
``trends``: which observations have enough dated values to be drawn over time.
"""
from engine.labs.ranges import REFERENCE_RANGES, ReferenceRange, annotate, reference_for
from engine.labs.trends import trend_rows

__all__ = ["REFERENCE_RANGES", "ReferenceRange", "annotate", "reference_for", "trend_rows"]
