"""FHIR import throughput: a Bulk Data NDJSON export of N synthetic patients, against bare JSON parsing.

Usage: ``python bench/fhir.py [--patients N]``. The export repeats the R4 example patient of
``tests/engine/ingest/fhir_examples.py`` under new ids (synthetic): 19 resources per patient over 13 files
(Patient, Observation with a blood-pressure panel, Condition, Encounter, MedicationRequest/Statement,
Medication, AllergyIntolerance, Immunization, Procedure, and Claim/ExplanationOfBenefit/Organization that
are skipped). In the same run and process:

* ``clinsight``: the whole import (read, flatten, map, validate, de-identify, write every resource kind in
  one transaction) on a fresh store;
* ``json``: the floor any importer pays: ``json.loads`` of every line of the same files.

The last line is one JSON object with resources/s and the ratio of the two times.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    args = parser.parse_args()
    from engine.ingest import DEFAULT_DECISIONS, import_source, open_fhir_files, propose_mapping, validate_source
    from engine.ingest.sources import fhir_files_in
    from engine.store import connect
    from tests.reliability.crash import fhir_bulk_fixture

    files = fhir_files_in(fhir_bulk_fixture(args.patients))
    resources = sum(1 for f in files for line in f.read_text().splitlines() if line.strip())
    started = time.perf_counter()
    for f in files:
        for line in f.read_text().splitlines():
            if line.strip():
                json.loads(line)
    bare = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        db = connect(Path(tmp) / "bench.db")
        started = time.perf_counter()
        source = open_fhir_files(files)
        report = validate_source(db, source, propose_mapping(source.columns, source.preview(200)))
        result = import_source(db, source, report, dict(DEFAULT_DECISIONS), dataset="bench", username="bench",
                               file_name="bench")
        full = time.perf_counter() - started
        db.conn.close()
    print(result.summary())
    print(json.dumps({"name": "fhir_import", "patients": args.patients, "resources": resources,
                      "seconds": round(full, 3), "resources_per_s": round(resources / full),
                      "json_parse_seconds": round(bare, 3), "ratio_vs_json_parse": round(full / bare, 2),
                      "encounters": result.encounters}))


if __name__ == "__main__":
    main()
