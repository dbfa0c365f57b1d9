"""Records page: the ICU time-series import (a .zip of PhysioNet-style records, a long CSV, or FHIR Observations)."""
from __future__ import annotations

import streamlit as st

from engine.errors import EngineError
from engine.icu.importer import default_dataset_name, import_stays
from engine.icu.records import read_upload
from engine.store import open_db


def render_icu_import(user) -> None:
    """Upload, read with the counted cleaning rules, import in one transaction; the report is shown."""
    with st.expander("ICU time series (vital signs and labs over time, for the Ward page)"):
        st.caption("A .zip of PhysioNet 2012-style records (<RecordID>.txt, 'Time,Parameter,Value'), a CSV with "
                   "patient, time, parameter, value, unit, or a FHIR R4 bundle of Observations. Record ids become "
                   "pseudonyms; the file name is not stored.")
        upload = st.file_uploader("ICU file", type=["zip", "csv", "json"], key="records_icu_upload")
        name = st.text_input("Dataset name", value=default_dataset_name(), key="records_icu_dataset")
        if st.button("Import ICU stays", key="records_icu_import", disabled=upload is None):
            progress = st.progress(0.0, text="Storing stays...")
            try:
                stays, report = read_upload(upload.getvalue())
                with open_db() as db:
                    result = import_stays(db, stays, report, username=user.username, dataset=name.strip() or None,
                                          progress=lambda i, n: progress.progress(i / n, text=f"Stored {i:,} of {n:,} stays"))
            except EngineError as exc:
                progress.empty()
                st.error(str(exc))
                return
            st.success(result.summary())
            st.json(result.cleaning["cleaned"], expanded=False)
