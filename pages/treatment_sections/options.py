"""Options and blocked options, each with its citation, basis, switch and decision widgets."""
from __future__ import annotations

from typing import Any

import streamlit as st

from engine.errors import EngineError
from engine.store import open_db
from engine.treatment.decisions import record_decision
from engine.unit_text import format_number, readable_unit, with_unit
from pages.components.session import user_can


def cite(c: dict[str, Any]) -> str:
    rec = f", recommendation {c['recommendation']}" if c.get("recommendation") else ""
    superseded = f" (superseded by {c['superseded_by']})" if c.get("superseded_by") else ""
    return f"{c['body']} {c['year']}, {c['section']}{rec}{superseded}"


def matched_text(m: dict[str, Any]) -> str:
    if m.get("value") is None or m.get("unit") is None:
        return f"{m['criterion']}" + (f" ({m['source']})" if m.get("source") not in (None, "store", "record") else "")
    when = f", {m['time']}" if m.get("time") else ""
    source = f", {m['source']}" if m.get("source") not in (None, "store", "record") else ""
    mean = f", mean of {m['averaged_over']} readings since {m['from']}" if m.get("averaged_over") else ""
    return f"{m['criterion']} (value {with_unit(format_number(m['value']), m['unit'])}{when}{mean}{source})"


def _render_decision_widgets(prefix: str, rule_id: str, user, pseudo_id: str, condition: str | None,
                             record: dict[str, Any], clear_cache) -> None:
    if not user_can(user, "treatment.decide"):
        return
    blocked = prefix == "txb"
    cols = st.columns([2, 4, 2])
    decision = cols[0].radio("Decision", ["accept", "decline"], key=f"{prefix}_dec_{rule_id}", horizontal=True)
    reason = cols[1].text_input("Reason (required to decline or to override the block)" if blocked
                                else "Reason (required to decline)", key=f"{prefix}_reason_{rule_id}")
    cols[2].write("")
    if cols[2].button("Record decision", key=f"{prefix}_save_{rule_id}"):
        try:
            with open_db() as db:
                record_decision(db, username=user.username, pseudo_id=pseudo_id, rule_id=rule_id, decision=decision,
                                reason=reason, condition=condition, inputs={"observations": record["observations"]},
                                record=record)
        except EngineError as exc:
            st.error(str(exc))
        else:
            clear_cache()
            override = " (override of a block)" if blocked and decision == "accept" else ""
            st.success(f"Decision recorded: {decision}{override}.")


def render_options(result: dict[str, Any], user, pseudo_id: str, condition: str | None, record: dict[str, Any],
                   clear_cache) -> None:
    st.subheader(f"Options ({len(result['options'])})")
    if not result["options"]:
        st.info("No guideline option applies with the data available. See the blocked and 'why not' lists.")
    for option in result["options"]:
        with st.container(border=True, key=f"tx_option_{option['id'].replace('.', '_')}"):
            kind = " - switch" if option["kind"] == "switch" else (" - stop" if option["kind"] == "stop" else "")
            st.markdown(f"**{option['rank']}. {option['option']}**{kind} - {option['strength']['text']} - "
                        f"*{option['status']}*")
            st.caption(f"Citation: {cite(option['citation'])}")
            st.write(option["statement"])
            if option.get("triggered_by"):
                st.warning(f"Measurement-triggered: {option['triggered_by']['note']}.")
            for switch in option.get("switch", []):
                st.info(f"Switch from {switch['replaces']} ({switch['class']}): {switch['washout']}",
                        icon=":material/swap_horiz:")
            if option["matched"]:
                st.markdown("**Why:** " + "; ".join(matched_text(m) for m in option["matched"]))
            for m in option["missing"]:
                need = "to check a contraindication" if m["needed_for"].startswith("contra") else "for this option"
                unit = readable_unit(m["unit"]) or m["unit"]
                st.markdown(f"- Missing data ({need}): **{m['name']}** in {unit} - criterion {m['criterion']}. "
                            "Not assumed normal; add it above if known.")
            for item in option["to_confirm"]:
                st.markdown(f"- To confirm: {item}")
            for caution in option["cautions"]:
                st.warning(caution)
            for note in option["notes"]:
                st.caption(note)
            _render_decision_widgets("tx", option["id"], user, pseudo_id, condition, record, clear_cache)


def render_blocked(result: dict[str, Any], user, pseudo_id: str, condition: str | None, record: dict[str, Any],
                   clear_cache) -> None:
    st.subheader(f"Blocked options ({len(result['blocked'])})")
    if not result["blocked"]:
        st.caption("No option is blocked by a contraindication, allergy or interaction with the data available.")
    for item in result["blocked"]:
        with st.container(border=True, key=f"tx_blocked_{item['id'].replace('.', '_')}"):
            st.markdown(f"**Blocked: {item['option']}** - {item['strength']['text']}")
            st.caption(f"Citation: {cite(item['citation'])}")
            for block in item["blocked_by"]:
                evidence = "; ".join(matched_text(m) for m in block["evidence"])
                st.error(f"Reason: {block['reason']}" + (f" Based on: {evidence}." if evidence else ""))
            _render_decision_widgets("txb", item["id"], user, pseudo_id, condition, record, clear_cache)


def render_currency(result: dict[str, Any]) -> None:
    """Which edition of each guideline the rules encode, and any newer edition that supersedes it."""
    superseded = [g for g in result.get("guidelines", []) if g.get("superseded_by")]
    for g in superseded:
        st.warning(f"Guideline currency: the rules from the {g['title']} ({g['edition']}) are superseded by "
                   f"{g['superseded_by']}. {g.get('note') or ''}", icon=":material/update:")
    with st.expander("Guideline editions used"):
        for g in result.get("guidelines", []):
            st.markdown(f"- **{g['title']}**, edition {g['edition']}; superseded by: "
                        f"{g.get('superseded_by') or 'none known'}. {g.get('note') or ''}")
