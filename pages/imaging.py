"""Imaging: upload or pick a chest X-ray of a patient; probability with interval, Grad-CAM, quality checks, feedback."""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from engine.config import get_settings
from engine.errors import EngineError
from engine.imaging.bundle import load_bundle, served_version
from engine.imaging.records import analyse_and_store, analyse_stored, list_patient_images, record_feedback
from engine.imaging.robustness import card_stress_rows
from engine.imaging.service import build_overlay, describe_heatmap
from engine.imaging.viewer import display_image, header_fields, window_range
from engine.store import open_db
from pages.components.patient_notes import render_report_link
from pages.components.patient_picker import render_patient_picker
from pages.components.session import require_page, require_page_in_fragment, user_can

RESULT_KEY = "imaging_result"
FEEDBACK_FRAGMENT = "imaging_feedback"
UPLOAD_TYPES = ["png", "jpg", "jpeg", "dcm", "dicom"]


@st.cache_data(show_spinner=False)
def get_card(models_dir: str, version: str) -> dict:
    """The served version's card; keyed by version so a promotion shows the new card at once."""
    return load_bundle(version).card


def render() -> None:
    user = require_page("imaging")
    st.title("Chest X-ray reading")
    st.caption("Decision support for pediatric AP chest X-rays: the model's probability of pneumonia with a heat-map "
               "of what it looked at. Not a substitute for a radiologist; review every image yourself.")
    settings = get_settings()
    try:
        card = get_card(str(settings.models_dir), served_version())
    except EngineError as exc:
        st.error(str(exc))
        return
    render_card(card)

    pseudo_id = render_patient_picker(query_key="imaging_patient_query", pick_key="imaging_patient")
    if pseudo_id is None:
        return
    source = st.radio("Image", ["Upload a new image", "A stored image of this patient"], horizontal=True,
                      key="imaging_source")
    can_run = user_can(user, "predict.run")
    if source == "Upload a new image":
        # A new (or removed) file drops the previous image's result and its feedback buttons: they belong to
        # the old image, and leaving them beside the new one invites feedback on the wrong film.
        upload = st.file_uploader("Chest X-ray (PNG, JPEG or DICOM)", type=UPLOAD_TYPES, key="imaging_upload",
                                  on_change=_forget_result)
        if st.button("Analyse and store", key="imaging_analyse", disabled=upload is None or not can_run, type="primary"):
            try:
                with open_db() as db:
                    result = analyse_and_store(db, pseudo_id=pseudo_id, data=upload.getvalue(), filename=upload.name,
                                               username=user.username)
            except EngineError as exc:
                st.session_state.pop(RESULT_KEY, None)
                st.error(str(exc))
                return
            st.session_state[RESULT_KEY] = {**result, "pseudo_id": pseudo_id}
    else:
        with open_db() as db:
            stored = list_patient_images(db, pseudo_id, thumbnails=True)
        if not stored:
            st.info("No images are stored for this patient yet.")
        else:
            render_stored_list(stored)
            labels = {f"#{r['id']} · {r['file_name'] or r['kind'].upper()} · {r['result']} · {r['created_at'][:10]}":
                      r["id"] for r in stored}
            choice = st.selectbox("Stored image", list(labels), key="imaging_stored_choice")
            if st.button("Open stored image", key="imaging_open_stored", disabled=not can_run):
                try:
                    with open_db() as db:
                        result = analyse_stored(db, pseudo_id=pseudo_id, image_id=labels[choice], username=user.username)
                except EngineError as exc:
                    st.error(str(exc))
                    return
                result.pop("content", None)
                st.session_state[RESULT_KEY] = {**result, "pseudo_id": pseudo_id}

    current = st.session_state.get(RESULT_KEY)
    if current and current["pseudo_id"] == pseudo_id:
        render_result(current, user)


def _forget_result() -> None:
    st.session_state.pop(RESULT_KEY, None)


def render_stored_list(stored: list[dict]) -> None:
    """Stored images of the patient as thumbnails with the file name and the latest result."""
    cols = st.columns(4)
    for i, row in enumerate(stored):
        with cols[i % 4]:
            caption = f"#{row['id']} {row['file_name'] or '(no file name)'} · {row['result']}"
            if row.get("thumbnail"):
                st.image(row["thumbnail"], caption=caption, width=160)
            else:
                st.caption(caption)


def render_card(card: dict) -> None:
    with st.expander(f"Model: {card['name']} {card['version']} · how well it did and where not to use it"):
        rows = []
        for split in ("holdout", "validation"):
            m = card["metrics"][split]
            rows.append({"split": f"{split} (n={m['n']})", **{k: f"{m[k]['value']:.3f} ({m[k]['ci95'][0]:.3f}-{m[k]['ci95'][1]:.3f})"
                                                               for k in ("accuracy", "sensitivity", "specificity", "auroc")}})
        ref = card["published_reference"]
        rows.append({"split": "Kermany 2018 (official test split, not comparable)",
                     **{k: f"{ref[k]:.3f}" for k in ("accuracy", "sensitivity", "specificity", "auroc")}})
        st.dataframe(pd.DataFrame(rows), hide_index=True, key="imaging_card_metrics")
        st.caption(card["metrics"]["note"])
        stress = card_stress_rows(card)
        if stress:
            st.markdown("**Shift stress** (validation split; a drop above 0.03 misses the goal).")
            st.dataframe(pd.DataFrame(stress), hide_index=True, key="imaging_card_stress")
        st.markdown(f"**Intended use.** {card['intended_use']}")
        st.markdown("**Limits.**\n" + "\n".join(f"- {item}" for item in card["limits"]))
        data = card["training_data"]
        st.caption(f"Training data: {data['title']} ({data['licence']}). {data['citation']}")


def render_result(current: dict, user) -> None:
    analysis = current["analysis"]
    decoded = analysis.decoded
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Image")
        window = window_range(decoded)
        center = width = None
        if window is not None:
            c1, c2 = st.columns(2)
            center = c1.slider("Window level (center)", window["min_center"], window["max_center"], window["center"],
                               key="imaging_wl_center")
            width = c2.slider("Window width", window["min_width"], window["max_width"], window["width"],
                              key="imaging_wl_width")
        fig = px.imshow(display_image(decoded, center, width), color_continuous_scale="gray", binary_string=True)
        fig.update_layout(margin=dict(l=0, r=0, t=0, b=0), height=520, dragmode="zoom")
        fig.update_xaxes(showticklabels=False)
        fig.update_yaxes(showticklabels=False)
        st.plotly_chart(fig, key="imaging_viewer", config={"scrollZoom": True})
        fields = header_fields(decoded)
        if fields:
            st.table(pd.DataFrame(fields).set_index("field"))
    with right:
        st.subheader("Model reading")
        for warning in analysis.quality.warnings:
            st.warning(warning)
        if analysis.probability is None:
            st.error("Probability withheld: this image does not fit what the model was trained on.")
        else:
            low, high = analysis.interval
            st.metric("Probability of pneumonia", f"{analysis.probability:.0%}",
                      help="Calibrated on a patient-grouped validation split.")
            st.markdown(f"95% interval **{low:.0%} to {high:.0%}** · reading at the {analysis.threshold:.0%} "
                        f"threshold: **{analysis.label}**")
            show = st.toggle("Show heat-map (Grad-CAM)", value=True, key="imaging_overlay_on")
            opacity = st.slider("Heat-map opacity", 0.0, 1.0, 0.45, 0.05, key="imaging_opacity", disabled=not show)
            overlay = build_overlay(analysis.square, analysis.cam, opacity if show else 0.0, size=384)
            heat = px.imshow(overlay)
            heat.update_layout(margin=dict(l=0, r=0, t=0, b=0), height=384)
            heat.update_xaxes(showticklabels=False)
            heat.update_yaxes(showticklabels=False)
            st.plotly_chart(heat, key="imaging_heatmap")
            legend = describe_heatmap(analysis.cam)
            (st.info if legend["blank"] else st.caption)(legend["legend"])
            st.caption("What the model saw (squashed to a square as its training copies were, 128 px) with the "
                       "regions that raised its pneumonia "
                       "score. A heat-map shows where the model looked, not where disease is.")
        st.caption(f"{analysis.model} {analysis.version} · stored as image #{current['image_id']}, "
                   f"result #{current['prediction_id']}")
        render_report_link(current["pseudo_id"], analysis.label)
        if user_can(user, "feedback.record"):
            render_feedback(current["prediction_id"])


@st.fragment(key=FEEDBACK_FRAGMENT)
def render_feedback(pid: int) -> None:
    """Agree / disagree with the read. A fragment: recording it reruns this form only, not the image
    viewer, the Grad-CAM overlay and the report link beside it (issue 16)."""
    user = require_page_in_fragment("imaging")
    if not user_can(user, "feedback.record"):
        return
    # keys per result: a verdict given for one image never carries over to the next
    with st.form("imaging_feedback_form"):
        verdict = st.radio("Your reading of this result", ["agree", "disagree"], horizontal=True, index=None,
                           key=f"imaging_verdict_{pid}")
        reason = st.text_input("Reason (optional)", key=f"imaging_reason_{pid}")
        submitted = st.form_submit_button("Record feedback", key="imaging_feedback_submit")
    if submitted and verdict is None:
        st.error("Choose agree or disagree before recording feedback.")
    elif submitted:
        try:
            with open_db() as db:
                record_feedback(db, prediction_id=pid, verdict=verdict, reason=reason,
                                username=user.username)
        except EngineError as exc:
            st.error(str(exc))
            return
        st.success(f"Feedback recorded: {verdict}.")


if __name__ == "__main__":
    from pages.components.standalone import run_app_instead

    run_app_instead()
