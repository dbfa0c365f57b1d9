"""Models: versions, cards with plots, compare versions, train on an imported dataset, promote / retire, threshold."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.errors import EngineError
from engine.frames import dataset_frame
from engine.imaging import bundle as imaging_bundle
from engine.imaging.figures import STRESS_GOAL, stress_figure
from engine.imaging.robustness import installed_stress_rows
from engine.icu import bundle as icu_bundle
from engine.icu.figures import build_by_hour_figure, build_comparison_figure
from engine.icu.horizons import by_hour_rows
from engine.models import figures, registry
from engine.models.train import Split, candidate_learners, train_on_dataset
from engine.store import open_db
from engine.store.patients import list_dataset_names
from engine.unit_text import readable_unit
from pages.components.cache_keys import settings_cache_key
from pages.components.session import checked_user, require_page, user_can

NAME_DEFAULT_KEY = "models_train_name_default"  # the default model name last offered (dataset_outcome)


@st.cache_data(ttl=30, show_spinner=False)
def get_versions(settings_key: str) -> list[dict]:
    return registry.list_models()


@st.cache_data(ttl=30, show_spinner=False)
def get_card_cached(name: str, version: str, settings_key: str) -> dict:
    return registry.get_card(name, version)


@st.cache_data(ttl=60, show_spinner=False)
def get_dataset_names(settings_key: str) -> list[str]:
    with open_db() as db:
        return list_dataset_names(db)


@st.cache_data(ttl=60, show_spinner=False)
def get_frame(name: str, settings_key: str) -> pd.DataFrame:
    with open_db() as db:
        return dataset_frame(db, name)


def _clear() -> None:
    get_versions.clear()
    get_card_cached.clear()


def render() -> None:
    user = require_page("models")
    st.title("Models")
    key = settings_cache_key()
    try:
        versions = get_versions(key)
    except EngineError as exc:
        st.error(str(exc))
        return
    st.dataframe(pd.DataFrame([{k: m[k] for k in ("name", "version", "title", "status", "promoted", "learner",
                                                   "threshold", "auroc")} for m in versions]),
                 hide_index=True, key="models_versions")
    tabs = st.tabs(["Card", "Compare versions", "Train a new version", "Promote / retire", "Chest X-ray model",
                    "ICU model"])
    with tabs[0]:
        _render_card(versions, key)
    with tabs[1]:
        _render_compare(versions)
    with tabs[2]:
        _render_train(user, key)
    with tabs[3]:
        if user_can(user, "models.promote"):
            _render_admin(user, versions, key)
        else:
            st.info("Only administrators can promote or retire versions and re-set thresholds.")
    with tabs[4]:
        _render_imaging(user)
    with tabs[5]:
        _render_icu()


def _pick(versions: list[dict], prefix: str) -> tuple[str, str]:
    names = sorted({m["name"] for m in versions})
    name = st.selectbox("Model", names, key=f"{prefix}_name")
    options = [m["version"] for m in versions if m["name"] == name]
    version = st.selectbox("Version", options, index=len(options) - 1, key=f"{prefix}_version")
    return name, version


def _render_card(versions: list[dict], key: str) -> None:
    name, version = _pick(versions, "models_card")
    try:
        card = get_card_cached(name, version, key)
    except EngineError as exc:
        st.error(str(exc))
        return
    st.subheader(f"{card['title']} v{card['version']} ({card['status']}{', promoted' if card['promoted'] else ''})")
    st.markdown(f"**Intended use.** {card['intended_use']}\n\n**Population.** {card['population']}\n\n"
                f"**Outcome.** {card['outcome']}\n\n**Validation.** {card['validation']['design']}\n\n"
                f"**Learner.** {card['learner']} ({card['selection_rule']}) **Calibration.** {card['calibration']}"
                f"\n\n**Operating threshold.** {card['threshold']} ({card['threshold_rule']})\n\n"
                f"**Missing data.** {card['missing_data']}\n\n**Uncertainty.** {card['uncertainty']}")
    st.markdown("**Held-out performance (bootstrap 95% CIs)**")
    st.dataframe(pd.DataFrame(registry.metrics_rows(card)), hide_index=True, key="models_metrics")
    c1, c2, c3 = st.columns(3)
    c1.plotly_chart(figures.build_roc_figure(card), key="models_roc")
    c2.plotly_chart(figures.build_calibration_figure(card), key="models_calibration")
    c3.plotly_chart(figures.build_decision_curve_figure(card), key="models_decision")
    st.markdown("**Subgroups**")
    st.dataframe(pd.DataFrame(registry.subgroup_rows(card)), hide_index=True, key="models_subgroups")
    st.markdown("**Candidate learners (5-fold CV on the training part)**")
    st.dataframe(pd.DataFrame(card["candidates"]).T, key="models_candidates")
    st.markdown("**Features**")
    st.dataframe(pd.DataFrame([{"name": f["name"], "label": f["label"], "unit": readable_unit(f["unit"]),
                                "code": f["code"],
                                "kind": f["kind"], "missing in training": f["training"]["missing_fraction"]}
                               for f in card["features"]]), hide_index=True, key="models_features")
    if card.get("excluded_features"):
        st.markdown("**Excluded on purpose:** " + " ".join(f"{k}: {v}" for k, v in card["excluded_features"].items()))
    st.markdown("**Limitations:** " + " ".join(card.get("limitations", [])))
    data = card["data"]
    st.caption(f"Data: {data['title']} ({data['source']}). Licence: {data['licence']}. Cite: {data['citation']} "
               f"Weights sha256 {card['weights']['sha256'][:16]}...")


def _render_compare(versions: list[dict]) -> None:
    names = sorted({m["name"] for m in versions})
    name = st.selectbox("Model", names, key="models_cmp_name")
    options = [m["version"] for m in versions if m["name"] == name]
    a = st.selectbox("Version A", options, index=0, key="models_cmp_a")
    b = st.selectbox("Version B", options, index=len(options) - 1, key="models_cmp_b")
    try:
        comparison = registry.compare_versions(name, a, b)
    except EngineError as exc:
        st.error(str(exc))
        return
    st.dataframe(pd.DataFrame(comparison["rows"]), hide_index=True, key="models_cmp_table")
    st.markdown("**Operating threshold: sensitivity / specificity on each version's held-out data**")
    st.dataframe(pd.DataFrame(comparison["threshold_movement"]).T, key="models_cmp_threshold")


def _render_train(user, key: str) -> None:
    if not user_can(user, "models.train"):
        st.info("Your role may not train models.")
        return
    names = get_dataset_names(key)
    if not names:
        st.info("Import a dataset on the Records page first.")
        return
    dataset = st.selectbox("Dataset", names, key="models_train_dataset")
    try:
        frame = get_frame(dataset, key)
    except EngineError as exc:
        st.error(str(exc))
        return
    binary = [c for c in frame.columns if frame[c].dropna().isin([0, 1]).all() and frame[c].notna().all()
              and frame[c].nunique() == 2]
    if not binary:
        st.info("This dataset has no complete 0/1 column to use as an outcome.")
        return
    outcome = st.selectbox("Outcome (0/1)", binary, key="models_train_outcome")
    candidates = [c for c in frame.columns if c not in (outcome, "source", "age_group")]
    features = st.multiselect("Features", candidates, key="models_train_features")
    split_kind = st.radio("Validation", ["random", "site", "time"], horizontal=True, key="models_train_split",
                          format_func={"random": "Random 75/25", "site": "Site split", "time": "Time split"}.get)
    split = Split()
    if split_kind == "site":
        column = st.selectbox("Site column", [c for c in frame.columns if frame[c].dtype == object],
                              key="models_train_site_col")
        holdout = st.multiselect("Held-out sites", sorted(frame[column].dropna().astype(str).unique())
                                 if column else [], key="models_train_holdout")
        split = Split("site", column, tuple(holdout))
    elif split_kind == "time":
        column = st.selectbox("Time column", list(frame.columns), key="models_train_time_col")
        split = Split("time", column)
    learners = st.multiselect("Learners to compare", list(candidate_learners(0)), default=list(candidate_learners(0)),
                              key="models_train_learners")
    # The default name follows dataset and outcome until the user types a name of their own.
    default = f"{dataset}_{outcome}".lower().replace(".", "_")
    if st.session_state.get("models_train_name") in (None, st.session_state.get(NAME_DEFAULT_KEY)):
        st.session_state["models_train_name"] = default
    st.session_state[NAME_DEFAULT_KEY] = default
    name = st.text_input("Model name", key="models_train_name").strip()
    if st.button("Train", type="primary", key="models_train_run"):
        bar = st.progress(0.0, text="Starting")
        try:
            version = registry.next_version(name)
            with open_db() as db:
                bundle, card = train_on_dataset(
                    frame, dataset={"name": dataset}, name=name, title=f"{outcome} from {dataset}", outcome=outcome,
                    features=features, split=split, version=version, username=user.username,
                    learners=tuple(learners), progress=lambda f, t: bar.progress(min(max(f, 0.0), 1.0), text=t))
                registry.register_trained(db, bundle, card, username=user.username)
        except EngineError as exc:
            st.error(str(exc))
            return
        _clear()
        auc = card["validation"]["internal"]["metrics"]["auroc"]
        st.success(f"Trained {name} version {version} ({card['learner']}, held-out AUROC {auc['value']:.3f}); "
                   "an administrator must promote it before it is used.")


def _render_admin(user, versions: list[dict], key: str) -> None:
    name, version = _pick(versions, "models_admin")
    card = get_card_cached(name, version, key)
    st.write(f"Status: **{card['status']}**{' · promoted (served)' if card['promoted'] else ''} · "
             f"threshold {card['threshold']} (card default {card['card_threshold']})")
    c1, c2, c3 = st.columns(3)
    if not (user_can(user, "models.retire") and user_can(user, "models.threshold")):
        st.info("Only administrators can change versions.")
        return
    if c1.button("Promote", key="models_promote"):
        _admin_action(lambda db: registry.promote(db, name, version, username=user.username),
                      f"{name} {version} is now the served version.")
    if c2.button("Retire", key="models_retire"):
        _admin_action(lambda db: registry.set_status(db, name, version, "retired", username=user.username),
                      f"{name} {version} is retired.")
    if c3.button("Re-activate", key="models_activate"):
        _admin_action(lambda db: registry.set_status(db, name, version, "active", username=user.username),
                      f"{name} {version} is active again.")
    served = [m for m in versions if m["name"] == name and m["promoted"] and m["version"] != version]
    if served:
        st.markdown(f"**Against the served version {served[0]['version']}**")
        comparison = registry.compare_versions(name, served[0]["version"], version)
        st.dataframe(pd.DataFrame(comparison["threshold_movement"]).T, key="models_admin_movement")
    new = st.number_input("Operating threshold", min_value=0.01, max_value=0.99, value=float(card["threshold"]),
                          step=0.01, key="models_threshold")
    effect_old = registry.threshold_effect(card, float(card["threshold"]))
    effect_new = registry.threshold_effect(card, float(new))
    st.dataframe(pd.DataFrame({"current": effect_old, "proposed": effect_new}).T, key="models_threshold_effect")
    if st.button("Set threshold", key="models_set_threshold"):
        _admin_action(lambda db: registry.set_threshold(db, name, version, float(new), username=user.username),
                      f"Threshold of {name} {version} set to {new:.2f}.")


IMAGING_COLUMNS = {"version": "version", "served": "served", "why": "why served", "threshold": "threshold",
                   "holdout_sensitivity": "hold-out sensitivity", "holdout_specificity": "hold-out specificity",
                   "holdout_auroc": "hold-out AUROC", "worst_stress_specificity_drop": "worst stress specificity drop",
                   "appearance_gate": "appearance gate"}


def _versions_table(fetch, empty: str, columns: dict[str, str], key: str) -> list[dict] | None:
    """A model's installed versions as a table (chest X-ray, ICU: cards on disk, not the tabular registry); None,
    after saying why, when they cannot be read or none is installed."""
    try:
        rows = fetch()
    except EngineError as exc:
        st.error(str(exc))
        return None
    if not rows:
        st.info(empty)
        return None
    st.dataframe(pd.DataFrame(rows).rename(columns=columns), hide_index=True, key=key)
    return rows


def _render_imaging(user) -> None:
    """The chest X-ray model's installed versions (cards on disk, not the tabular registry) and, for
    administrators, which one the Imaging page, the API and the command line serve."""
    rows = _versions_table(imaging_bundle.version_summaries, "No chest X-ray model is installed.", IMAGING_COLUMNS,
                           "models_imaging_versions")
    if rows is None:
        return
    stress = stress_figure(installed_stress_rows())
    if stress is not None:
        st.plotly_chart(stress, key="models_imaging_stress")
    st.caption("Hold-out: the patient-grouped split of the training folder no training step saw. Stress: the largest "
               f"fall in specificity under the card's synthetic shifts (goal at most {STRESS_GOAL}). The full card, "
               "with its stress table, is on the Imaging page of the served version.")
    if not user_can(user, "models.promote"):
        st.info("Only administrators can choose the served chest X-ray model.")
        return
    others = [r["version"] for r in rows if not r["served"]]
    if not others:
        return
    st.selectbox("Serve another version", others, key="models_imaging_version")
    st.button("Serve this version", key="models_imaging_promote", on_click=_serve_imaging_version)
    outcome = st.session_state.pop(IMAGING_OUTCOME_KEY, None)
    if outcome:
        (st.success if outcome[0] == "ok" else st.error)(outcome[1])


IMAGING_OUTCOME_KEY = "models_imaging_outcome"
ICU_COLUMNS = {"version": "version", "served": "served", "derived_from": "derived from", "threshold": "alert threshold",
               "cv_auroc": "CV AUROC", "cv_auroc_low": "95% CI low", "cv_auroc_high": "95% CI high",
               "event1": "Event 1", "h": "H", "calibrated_by_hour": "calibrated by hour"}


def _render_icu() -> None:
    """The ICU mortality model's installed versions and, for one, its card: the model comparison, the figures
    by hour of the stay, the threshold rule and the limits (the highest version serves the Ward and the API)."""
    rows = _versions_table(icu_bundle.version_summaries, "No ICU model is installed (train one with "
                           "`python -m engine icu train`).", ICU_COLUMNS, "models_icu_versions")
    if rows is None:
        return
    st.caption("Figures are 5-fold patient-level cross-validation on PhysioNet 2012 set A, with calibration and the "
               "alert threshold cross-fitted. The highest installed version serves the Ward and the API.")
    versions = [r["version"] for r in rows]
    version = st.selectbox("ICU model card", versions, index=len(versions) - 1, key="models_icu_version")
    try:
        card = icu_bundle.read_card(version)
    except EngineError as exc:
        st.error(str(exc))
        return
    st.markdown(f"**{card.get('title', '')}** ({version}). {card.get('intended_use', '')}")
    comparison = build_comparison_figure(card.get("metrics", {}).get("comparison") or {})
    if comparison is not None:
        st.plotly_chart(comparison, key="models_icu_comparison")
    by_hour = by_hour_rows(card)
    if by_hour:
        st.plotly_chart(build_by_hour_figure(by_hour), key="models_icu_by_hour")
    st.markdown(f"**Alert threshold** {card.get('threshold', 0):.3f}. {card.get('threshold_rule', '')}")
    st.markdown("**Limits**\n" + "\n".join(f"- {text}" for text in card.get("limits", [])))


def _serve_imaging_version() -> None:
    """Button callback: runs before the page, so the table drawn next already shows the new served version.
    Re-checks the session (an expired or demoted admin writes nothing)."""
    user = checked_user("models", "models.promote")
    if user is None:
        return
    try:
        out = imaging_bundle.promote(st.session_state["models_imaging_version"], username=user.username)
    except EngineError as exc:
        st.session_state[IMAGING_OUTCOME_KEY] = ("error", str(exc))
        return
    st.session_state[IMAGING_OUTCOME_KEY] = (
        "ok", f"Chest X-ray model {out['promoted']} now serves, at its own threshold {out['threshold']:.4f}.")


def _admin_action(action, success: str) -> None:
    try:
        with open_db() as db:
            action(db)
    except EngineError as exc:
        st.error(str(exc))
        return
    _clear()
    st.success(success)


if __name__ == "__main__":
    from pages.components.standalone import run_app_instead

    run_app_instead()
