"""Statistics for the Explore page: cohorts, Table 1, tests, regression, survival,
clustering, data quality and the pinned-results report.

One module per concern; every public function takes a plain pandas frame (the
cohort) and returns a small dataclass holding the numbers, the caveats that
apply to them (as data, shown by the page) and a one-sentence methods text the
report reuses. Nothing here imports streamlit.
"""
