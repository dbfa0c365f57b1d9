"""ClinSight engine: every model, statistic, rule and store access.

Importable and testable without Streamlit; pages and the command line are thin
layers over it. This package must never import streamlit (a test enforces it).
"""
