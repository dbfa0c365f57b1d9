"""Records import: read any export (CSV, Excel, Parquet, FHIR), map, validate, de-identify, import.

The steps, each usable on its own (the page runs them one screen at a time, the
command line in one go):

1. :func:`open_source` sniffs the bytes and gives a chunked table;
2. :func:`propose_mapping` maps columns to canonical fields (LOINC/UCUM, ICD-10-CM);
3. :func:`validate_source` reports every problem with row numbers, writing nothing;
4. :func:`import_source` writes one dataset version in one transaction, following the
   user's decision per problem class; :func:`rollback_version` undoes one.
"""
from engine.ingest.importer import ImportResult, import_source, rollback_version
from engine.ingest.mapping import DEID_ACTIONS, FIELDS, check_mapping, propose_mapping
from engine.ingest.sources import Source, open_fhir_files, open_source
from engine.ingest.validate import (ACTIONS, CLASS_LABELS, DEFAULT_DECISIONS, ValidationReport, check_decisions,
                                    validate_source)

__all__ = ["ACTIONS", "CLASS_LABELS", "DEFAULT_DECISIONS", "DEID_ACTIONS", "FIELDS", "ImportResult", "Source",
           "ValidationReport", "check_decisions", "check_mapping", "import_source", "open_fhir_files", "open_source",
           "propose_mapping", "rollback_version", "validate_source"]
