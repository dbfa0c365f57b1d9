"""ICU deterioration: timed vital signs and labs, NEWS2, and an in-hospital mortality model.

Modules: ``parameters`` (the vocabulary: LOINC, UCUM, plausible ranges, normal bands),
``records`` (read and clean PhysioNet-2012-style stays and long CSVs), ``news2`` (the RCP 2017
score at every time point), ``features`` (summary features up to any hour), ``metrics``
(challenge scores), ``train`` / ``bundle`` / ``predict`` (the shipped model).
"""
