"""Capacity planning (issue 17): census forecast, bed sizing and nurse rosters from a unit's own patient flow.

Modules, one job each:
``los`` (length-of-stay distributions, the real PhysioNet ICU default), ``admissions`` (the
admissions/discharges export: read, check, pseudonymise), ``arrivals`` (daily arrival count model,
statsmodels GLM with weekday and trend), ``simulation`` (the discrete-event simulation of a unit,
simpy), ``erlang`` (the Erlang loss formula), ``beds`` (bed sizing), ``forecast`` (census fan chart
and rolling-origin backtest), ``roster`` (OR-Tools CP-SAT nurse roster), ``scenarios`` (saved plans),
``figures`` (plotly) and ``sample`` (a clearly labelled synthetic history for demos and tests).
"""
