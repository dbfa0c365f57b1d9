"""Sections of the Treatment page (pages/treatment.py is the router): one module per section."""
