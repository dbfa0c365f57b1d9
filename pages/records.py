"""Records: upload, preview, map, validate, decide, import (analysts/admins); dataset versions for all."""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from engine.errors import EngineError
from engine.ingest import (ACTIONS, CLASS_LABELS, DEID_ACTIONS, FIELDS, import_source, open_fhir_files, open_source,
                           propose_mapping, rollback_version, validate_source)
from engine.ingest.preview import masked_preview
from engine.ingest.records import (default_dataset_name, list_versions, load_named_mapping, mapping_names,
                                   save_named_mapping)
from engine.ingest.validate import ACTION_HELP
from engine.store import open_db
from engine.unit_text import count_noun
from engine.vocabulary import CONCEPTS
from pages.components.icu_import import render_icu_import
from pages.components.session import require_page, user_can

STATE = "records_state"  # {"key": upload identity, "source": Source, "name": str, "report": ValidationReport|None}


def render() -> None:
    user = require_page("records")
    st.title("Records")
    if user_can(user, "records.import"):
        st.caption("Upload a CSV (comma, semicolon or tab), Excel (.xlsx), Parquet or FHIR R4 JSON bundle. Nothing "
                   "is written until you import; each import is a dataset version you can roll back.")
        _render_import(user)
        render_icu_import(user)
    else:
        st.caption("Imported datasets and their versions. Importing is for analysts and admins.")
    _render_versions(user)


# --- import -----------------------------------------------------------------------------------------

def _render_import(user) -> None:
    st.subheader("1. Upload")
    upload = st.file_uploader("File to import", type=["csv", "tsv", "txt", "xlsx", "parquet", "json", "ndjson"],
                              key="records_upload")
    bulk = st.file_uploader("Or several FHIR files imported together (a FHIR Bulk Data export: one NDJSON file "
                            "per resource type)", type=["ndjson", "json"], accept_multiple_files=True,
                            key="records_bulk")
    if upload is None and not bulk:
        st.session_state.pop(STATE, None)
        return
    if upload is not None and bulk:
        st.error("Upload one file, or several FHIR files together, not both.")
        return
    files = [upload] if upload is not None else list(bulk)
    identity = tuple((f.name, f.size, getattr(f, "file_id", None)) for f in files)
    state = st.session_state.get(STATE)
    if state is None or state["key"] != identity:
        try:
            if upload is not None:
                source, name = open_source(upload.getvalue(), file_name=upload.name), upload.name
            else:
                source = open_fhir_files([(f.name, f.getvalue()) for f in files])
                name = ", ".join(f.name for f in files)  # scrubbed word by word when stored
        except EngineError as exc:
            st.error(str(exc))
            st.session_state.pop(STATE, None)
            return
        state = {"key": identity, "source": source, "name": name, "report": None, "result": None}
        st.session_state[STATE] = state
    source = state["source"]
    st.caption(f"Format: **{source.format}** ({', '.join(f'{k}: {v}' for k, v in source.details.items())}); "
               f"{len(source.columns)} columns; about {source.row_estimate:,} rows.")
    try:
        preview = masked_preview(source, 20, mapping=state.get("mapping"))
    except EngineError as exc:
        st.error(str(exc))
        return
    st.dataframe(preview.frame, hide_index=True, key="records_preview")
    if preview.hidden:
        st.caption("Hidden in this preview (identifiers): "
                   + ", ".join(f"{col} ({why})" for col, why in preview.hidden.items())
                   + (f"; {preview.redacted_cells} identifier-like fragments redacted in text cells."
                      if preview.redacted_cells else "."))

    st.subheader("2. Map columns")
    mapping = _render_mapping(user, source)
    if mapping is None:
        return
    state["mapping"] = mapping  # the next preview also hides what the user marked as identifiers

    st.subheader("3. Validate")
    method = st.radio("Outliers by", ["zscore", "iqr"], horizontal=True, key="records_outliers",
                      format_func=lambda m: {"zscore": "Z-score (|z| > 3)", "iqr": "IQR (3 x IQR fences)"}[m])
    if st.button("Validate", key="records_validate", icon=":material/fact_check:"):
        bar = st.progress(0.0, text="Reading the file...")
        try:
            with open_db() as db:
                state["report"] = validate_source(db, source, mapping, outlier_method=method,
                                                  progress=_progress(bar, "Validating"))
            state["result"] = None
        except EngineError as exc:
            state["report"] = None
            st.error(str(exc))
        bar.empty()
    report = state.get("report")
    if report is None:
        return
    _render_report(report)

    st.subheader("4. Decide and import")
    decisions = {}
    for cls, count in report.classes().items():
        decisions[cls] = st.selectbox(f"{CLASS_LABELS[cls].capitalize()} ({count_noun(count, 'row')})", ACTIONS[cls],
                                      key=f"records_decide_{cls}",
                                      format_func=lambda a: f"{a}: {ACTION_HELP[a]}")
    if "default_dataset" not in state:
        with open_db() as db:
            state["default_dataset"] = default_dataset_name(db)  # never the file name: it may name the patient
    dataset = st.text_input("Dataset name", value=state["default_dataset"], key="records_dataset")
    left, right = st.columns(2)
    if right.button("Cancel", key="records_cancel", icon=":material/cancel:"):
        st.session_state.pop(STATE, None)
        st.info("Import cancelled; nothing was written.")
        return
    if left.button("Import", key="records_import", type="primary", icon=":material/download:"):
        bar = st.progress(0.0, text="Importing...")
        try:
            with open_db() as db:
                result = import_source(db, source, report, decisions, dataset=dataset, username=user.username,
                                       file_name=state["name"], progress=_progress(bar, "Importing"))
        except EngineError as exc:
            bar.empty()
            st.error(str(exc))
            return
        bar.empty()
        state["report"] = None
        state["result"] = result.summary()
    if state.get("result"):
        st.success(state["result"])


def _progress(bar, label: str):
    started = time.monotonic()

    def update(phase: str, done: int, total: int) -> None:
        fraction = min(done / max(total, 1), 1.0)
        elapsed = time.monotonic() - started
        left = elapsed / fraction - elapsed if fraction > 0 else 0
        bar.progress(fraction, text=f"{label}: {done:,} of about {total:,} rows; about {left:,.0f} s left")
    return update


def _render_mapping(user, source) -> dict | None:
    with open_db() as db:
        names = mapping_names(db)
    choice = st.selectbox("Mapping", ["(proposed from the column names and values)", *names], key="records_mapping_pick")
    try:
        if choice in names:
            with open_db() as db:
                base = load_named_mapping(db, choice)
        else:
            base = propose_mapping(source.columns, source.preview(200))
    except EngineError as exc:
        st.error(str(exc))
        return None
    rows = []
    for col in source.columns:
        entry = base["columns"].get(col) or propose_mapping([col], source.preview(50))["columns"][col]
        rows.append({"column": col, "field": entry.get("field"), "concept": entry.get("concept") or "",
                     "unit": entry.get("unit") or "", "de-identification": entry.get("deid") or "keep"})
    table = pd.DataFrame(rows)
    edited = st.data_editor(
        table, hide_index=True, disabled=["column"], key=f"records_mapping_editor_{choice}",
        column_config={
            "field": st.column_config.SelectboxColumn("field", options=list(FIELDS), required=True),
            "concept": st.column_config.SelectboxColumn("concept (LOINC)", options=["", *CONCEPTS]),
            "unit": st.column_config.TextColumn("unit as recorded"),
            "de-identification": st.column_config.SelectboxColumn("de-identification", options=list(DEID_ACTIONS),
                                                                  required=True),
        })
    mapping = {"columns": {r["column"]: {"field": r["field"], "concept": r["concept"] or None,
                                         "unit": r["unit"] or None, "deid": r["de-identification"]}
                           for r in edited.to_dict("records")}}
    name_col, button_col = st.columns([3, 1])
    name = name_col.text_input("Save this mapping as", key="records_mapping_name", placeholder="e.g. lab-export-v2")
    if button_col.button("Save mapping", key="records_mapping_save"):
        try:
            with open_db() as db:
                save_named_mapping(db, name, mapping, username=user.username)
            st.success(f"Mapping '{name.strip()}' saved.")
        except EngineError as exc:
            st.error(str(exc))
    return mapping


def _render_report(report) -> None:
    cols = st.columns(4)
    cols[0].metric("Rows", f"{report.n_rows:,}")
    cols[1].metric("Patients", f"{report.n_patients:,}")
    cols[2].metric("Problem rows", f"{report.problem_rows():,}",
                   help="Rows with at least one problem; a row with several problems counts once.")
    cols[3].metric("k-anonymity", "-" if report.k_anonymity is None else f"{report.k_anonymity.k}")
    for warning in report.warnings:
        st.warning(warning)
    st.markdown("**Columns**")
    st.dataframe(pd.DataFrame([vars(c) for c in report.columns]), hide_index=True, key="records_columns")
    st.markdown("**Problems** (row numbers as in the file: the header is row 1)")
    if report.problems:
        st.dataframe(pd.DataFrame([{"class": p.cls, "column": p.column, "rows": p.count, "details": p.message}
                                   for p in report.problems]), hide_index=True, key="records_problems")
    else:
        st.success("No problems found.")
    st.markdown("**Identifiers (HIPAA Safe Harbor)**")
    if report.identifiers:
        action = {c: e["deid"] for c, e in report.mapping.items()}
        st.dataframe(pd.DataFrame([{"column": f.column, "identifier": f.kind, "found by": f.evidence,
                                    "on import": action.get(f.column)} for f in report.identifiers]),
                     hide_index=True, key="records_identifiers")
    else:
        st.caption("No identifier columns detected.")
    for col, count in report.redactions.items():
        st.caption(f"Column '{col}': {count:,} cells hold identifier-like text (e-mail, phone, ...); it is "
                   "redacted on import.")
    k = report.k_anonymity
    if k is not None:
        text = (f"k = {k.k} over {', '.join(k.quasi_identifiers)} ({k.n_classes} groups). ")
        if k.violating_count:
            text += (f"{k.violating_count:,} rows sit in groups smaller than {k.target}: rows "
                     f"{', '.join(str(r) for r in k.violating_rows[:20])}"
                     f"{' ...' if k.violating_count > 20 else ''}.")
            st.warning(text)
        else:
            st.info(text + f"Every group has at least {k.target} patients.")


# --- versions ---------------------------------------------------------------------------------------

def _render_versions(user) -> None:
    st.subheader("Dataset versions")
    notice = st.session_state.pop("records_notice", None)
    if notice:
        st.success(notice)
    with open_db() as db:
        versions = list_versions(db)
    if not versions:
        st.info("No datasets yet.")
        return
    frame = pd.DataFrame(versions)[["version_id", "dataset", "version", "file_name", "status", "patients",
                                    "rows_in_file", "rows_dropped", "values_flagged", "values_converted",
                                    "problems", "k_anonymity", "created_by", "created_at"]]
    st.dataframe(frame, hide_index=True, key="records_versions")
    if not user_can(user, "records.import"):
        return
    active = [v for v in versions if v["status"] == "active"]
    if not active:
        return
    with st.expander("Roll back a version"):
        labels = {v["version_id"]: f"#{v['version_id']} {v['dataset']} v{v['version']} ({v['patients']:,} patients)"
                  for v in active}
        chosen = st.selectbox("Version", list(labels), format_func=labels.get, key="records_rollback_pick")
        sure = st.checkbox("I understand this removes every row that version imported", key="records_rollback_sure")
        if st.button("Roll back", key="records_rollback", disabled=not sure):
            try:
                with open_db() as db:
                    counts = rollback_version(db, chosen, username=user.username)
                st.session_state["records_notice"] = (f"Rolled back {labels[chosen]}: removed "
                                                      f"{counts['patients']:,} patients and "
                                                      f"{counts['observations']:,} observations.")
                st.rerun()
            except EngineError as exc:
                st.error(str(exc))


if __name__ == "__main__":
    from pages.components.standalone import run_app_instead

    run_app_instead()
