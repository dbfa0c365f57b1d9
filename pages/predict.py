"""Predict: a calibrated risk with its interval, the reasons (SHAP waterfall) and its basis; agree / disagree."""
from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from engine import audit
from engine.errors import EngineError
from engine.models import figures
from engine.models.predict import (in_unit, input_units, record_feedback, record_for_patient, run_prediction,
                                   to_card_units)
from engine.models.registry import list_models, serving_card
from engine.store import open_db
from engine.unit_text import format_number, readable_unit
from pages.components.cache_keys import settings_cache_key
from pages.components.navigation import render_page_link
from pages.components.patient_picker import render_patient_picker
from pages.components.session import SELECTED_PATIENT_KEY, require_page, require_page_in_fragment, user_can

RESULT_KEY = "predict_result"
AUDITED_KEY = "predict_audited_patient"
PATIENT_KEY = SELECTED_PATIENT_KEY


@st.cache_data(ttl=10, show_spinner=False)
def get_served_models(settings_key: str) -> list[dict]:
    return [m for m in list_models() if m["servable"]]


@st.cache_data(ttl=10, show_spinner=False)
def get_model_card(name: str, settings_key: str) -> dict:
    return serving_card(name)


def render() -> None:
    user = require_page("predict")
    st.title("Predict")
    st.caption("Decision support: a calibrated probability with its uncertainty, the inputs that drove it and the "
               "model's basis. It does not decide; record whether you agree.")
    key = settings_cache_key()
    try:
        models = get_served_models(key)
    except EngineError as exc:
        st.error(str(exc))
        return
    if not models:
        st.info("No model is active and promoted; an administrator can promote one on the Models page.")
        return
    titles = {m["name"]: f"{m['title']} (v{m['version']})" for m in models}
    name = st.selectbox("Model", list(titles), format_func=titles.get, key="predict_model")
    try:
        card = get_model_card(name, key)
    except EngineError as exc:
        st.error(str(exc))
        return
    st.caption(f"Intended use: {card['intended_use']}")

    source = st.radio("Inputs", ["From a stored patient", "Enter values"], horizontal=True, key="predict_source")
    pseudo_id, record = None, {}
    if source == "From a stored patient":
        pseudo_id = render_patient_picker(query_key="predict_patient", pick_key="predict_patient_pick",
                                          handed_over=st.session_state.get(PATIENT_KEY))
        if pseudo_id:
            try:
                with open_db() as db:
                    record = record_for_patient(db, pseudo_id, card)
                    if st.session_state.get(AUDITED_KEY) != (pseudo_id, name):
                        audit.record(db, username=user.username, action="patient.view", target_type="patient",
                                     target_id=pseudo_id, details={"page": "predict", "model": name})
                        st.session_state[AUDITED_KEY] = (pseudo_id, name)
            except EngineError as exc:
                st.error(str(exc))
                pseudo_id = None
    values, units = _render_inputs(card, record, pseudo_id or "manual")

    if st.button("Predict", type="primary", key="predict_run"):
        try:
            with open_db() as db:
                prediction_id, result = run_prediction(db, username=user.username, name=name,
                                                       record=to_card_units(card, values, units), pseudo_id=pseudo_id)
            st.session_state[RESULT_KEY] = {"id": prediction_id, "result": result, "pseudo_id": pseudo_id}
        except EngineError as exc:
            st.session_state.pop(RESULT_KEY, None)
            st.error(str(exc))
    stored = st.session_state.get(RESULT_KEY)
    if stored and stored["result"]["model"] == name:
        _render_result(stored, card)


def _render_inputs(card: dict, record: dict, scope: str) -> tuple[dict, dict]:
    """One widget per card feature, with unit and plausible range; prefilled from the stored patient.

    Returns the values and, for inputs offered in more than one unit, the unit each was entered in."""
    st.subheader("Inputs")
    values, units = {}, {}
    cols = st.columns(3)
    for i, f in enumerate(card["features"]):
        col = cols[i % 3]
        current = record.get(f["name"])
        wkey = f"pin_{card['name']}_{scope}_{f['name']}"
        if f["kind"] == "categorical":
            options = [""] + list(f["categories"])
            index = options.index(current) if current in options else 0
            choice = col.selectbox(f"{f['label']}", options, index=index, key=wkey,
                                   help="Leave empty if unknown (it will be imputed).")
            values[f["name"]] = choice or None
        elif f["kind"] == "binary":
            options = ["", "no", "yes"]
            index = 0 if current is None else (2 if float(current) >= 0.5 else 1)
            choice = col.selectbox(f["label"], options, index=index, key=wkey,
                                   help="Leave empty if unknown (it will be imputed).")
            values[f["name"]] = None if not choice else (1 if choice == "yes" else 0)
        else:
            train = f.get("training", {})
            shown_unit = readable_unit(f["unit"]) or "none"
            rng = f" plausible {f['plausible'][0]:g}-{f['plausible'][1]:g}" if f.get("plausible") else ""
            help_text = (f"Unit: {shown_unit};{rng}; training range {train.get('min', '?'):g}-"
                         f"{train.get('max', '?'):g}" if "min" in train else f"Unit: {shown_unit};{rng}")
            small = "median" in train and abs(train["median"]) < 1
            value = None if current is None or (isinstance(current, float) and math.isnan(current)) else \
                float(current)
            choices = input_units(f)
            chosen = f["unit"]
            if len(choices) > 1:  # the entry box follows the unit: switching shows the same value converted
                chosen = col.radio(f"Unit of {f['label'][:1].lower()}{f['label'][1:]}", choices, horizontal=True,
                                   format_func=readable_unit, key=f"{wkey}_unit")
                units[f["name"]] = chosen
                value = in_unit(f, value, chosen)
                wkey = wkey if chosen == f["unit"] else f"{wkey}_{chosen}"
            label = f"{f['label']} ({readable_unit(chosen)})" if readable_unit(chosen) else f["label"]
            values[f["name"]] = col.number_input(label, value=value, key=wkey, help=help_text,
                                                 format="%g", step=0.001 if small else 1.0)
    return values, units


def _shown(value) -> str:
    """An input value as people write it: 145, not 145.0; categories as they are."""
    if value is None:
        return ""
    return format_number(value) if isinstance(value, (int, float)) else str(value)


def _render_result(stored: dict, card: dict) -> None:
    result = stored["result"]
    st.divider()
    st.subheader("Result")
    low, high = result["interval"]
    c1, c2, c3 = st.columns(3)
    c1.metric("Probability", f"{result['probability']:.1%}")
    c2.metric("95% interval", f"{low:.1%} - {high:.1%}")
    c3.metric("Risk band", result["risk_band"].capitalize(), help=f"High at or above the operating threshold "
              f"{result['threshold']:.2f}; borderline from half of it.")
    for warning in result["warnings"]:
        st.warning(warning)
    st.plotly_chart(figures.build_waterfall_figure(result), key="predict_waterfall")

    st.subheader("Basis")
    basis = result["basis"]
    st.markdown(f"**Inputs used:** {basis['n_used']} · **missing (imputed):** {basis['n_imputed']} · "
                f"**distance from training population:** {basis['mahalanobis']:.1f} "
                f"(99th centile of training patients: {basis['mahalanobis_99th']:.1f})")
    table = pd.DataFrame([{
        "input": e["label"], "value": _shown(e["value"]), "unit": readable_unit(e["unit"]),
        "status": e["status"] + (f" (median {e['imputed_value']:g})" if e.get("imputed_value") is not None else ""),
        "training range": (f"{e['training_min']:g}-{e['training_max']:g}" if e.get("training_min") is not None
                           else ""),
        "centile": None if e.get("percentile") is None else round(e["percentile"]),
        "outside training range": "yes" if e["outside_training_range"] else "",
    } for e in basis["inputs"]])
    st.dataframe(table, hide_index=True, key="predict_basis")
    st.plotly_chart(figures.build_population_figure(result), key="predict_population")
    internal = card["validation"]["internal"]["metrics"]
    st.caption(f"Training population: {basis['population']} Held-out AUROC {internal['auroc']['value']:.3f} "
               f"({internal['auroc']['low']:.3f}-{internal['auroc']['high']:.3f}), calibration slope "
               f"{internal['calibration_slope']['value']}. {basis['uncertainty']}")

    render_assessment(stored["id"])
    if stored.get("pseudo_id"):
        st.session_state[PATIENT_KEY] = stored["pseudo_id"]
        render_page_link("patient", label="Open this patient's record")


ASSESSMENT_FRAGMENT = "predict_assessment"


@st.fragment(key=ASSESSMENT_FRAGMENT)
def render_assessment(prediction_id: int) -> None:
    """Agree / disagree with the shown prediction.

    A fragment: choosing a verdict, typing the reason and recording it rerun this section only, not the
    model, the patient's record, the SHAP waterfall and the population chart above it (issue 16)."""
    user = require_page_in_fragment("predict")
    st.subheader("Your assessment")
    verdict = st.radio("Do you agree with this prediction?", ["agree", "disagree"], horizontal=True,
                       key="predict_verdict")
    reason = st.text_area("Reason (required when you disagree)", key="predict_reason")
    if st.button("Record feedback", key="predict_feedback"):
        if not user_can(user, "feedback.record"):
            st.error("Your role may not record feedback.")
            return
        try:
            with open_db() as db:
                record_feedback(db, username=user.username, prediction_id=prediction_id, verdict=verdict,
                                reason=reason)
            st.success(f"Feedback recorded ({verdict}).")
        except EngineError as exc:
            st.error(str(exc))


if __name__ == "__main__":
    from pages.components.standalone import run_app_instead

    run_app_instead()
