"""A one-page printable HTML summary of a treatment review (the page's export).

Plain HTML with print CSS (no PDF engine to install, opens anywhere, prints to one
page for a typical review). Every value is escaped; the only identifier is the
pseudonymous id the store already uses.
"""
from __future__ import annotations

from html import escape
from typing import Any

from engine.store import utcnow
from engine.treatment.decisions import decision_label
from engine.treatment.similar import closest_features

_CSS = """
@page { size: A4; margin: 12mm; }
body { font-family: Helvetica, Arial, sans-serif; font-size: 10.5px; color: #111; max-width: 190mm; margin: auto; }
h1 { font-size: 16px; margin: 0 0 2px 0; } h2 { font-size: 12.5px; margin: 10px 0 4px 0; border-bottom: 1px solid #999; }
table { border-collapse: collapse; width: 100%; } td, th { border: 1px solid #ccc; padding: 2px 4px; vertical-align: top; text-align: left; }
.muted { color: #555; } .disclaimer { border: 1px solid #b00; padding: 4px; margin: 6px 0; }
"""


def _cite(c: dict[str, Any]) -> str:
    rec = f", recommendation {c['recommendation']}" if c.get("recommendation") else ""
    return escape(f"{c.get('body', '')} {c.get('year', '')}, {c.get('section', '')}{rec}")


def _value_text(v: dict[str, Any]) -> str:
    text = f"{v['value']:g} {v['unit']}"
    if v.get("time"):
        text += f" ({v['time']})"
    if v.get("source") and v["source"] != "store":
        text += f" [{v['source']}]"
    return text


def _decision_cell(d: dict[str, Any]) -> str:
    text = escape(decision_label(d))
    return f"<b>{text}</b>" if d.get("override") else text


def build_summary_html(pseudo_id: str, result: dict[str, Any], decisions: list[dict[str, Any]],
                       similar: dict[str, Any] | None = None, username: str | None = None) -> str:
    """The review as one printable HTML page."""
    inputs = result.get("inputs", {})
    rows_opt = "".join(
        f"<tr><td>{o['rank']}</td><td><b>{escape(o['option'])}</b><br><span class=muted>{escape(o['statement'])}</span></td>"
        f"<td>{escape(o['strength']['text'])}</td><td>{_cite(o['citation'])}</td><td>{escape(o['status'])}"
        + ("".join(f"<br>missing: {escape(m['criterion'])}" for m in o["missing"]))
        + ("".join(f"<br>switch from the {escape(w['class'])}: {escape(w['washout'])}" for w in o.get("switch", [])))
        + ("".join(f"<br>to confirm: {escape(t)}" for t in o["to_confirm"]))
        + ("".join(f"<br>caution: {escape(t)}" for t in o["cautions"]))
        + "</td></tr>" for o in result.get("options", []))
    rows_blocked = "".join(
        f"<tr><td><b>{escape(b['option'])}</b></td><td>{escape(b['reason'])}</td><td>{_cite(b['citation'])}</td></tr>"
        for b in result.get("blocked", []))
    rows_obs = "".join(f"<tr><td>{escape(code)}</td><td>{escape(', '.join(_value_text(v) for v in values))}</td></tr>"
                       for code, values in inputs.get("observations", {}).items())
    rows_dec = "".join(
        f"<tr><td>{escape(d['created_at'])}</td><td>{escape(d['option'])}</td><td>{_decision_cell(d)}</td>"
        f"<td>{escape(d['reason'] or '')}</td><td>{escape(d['username'])}</td></tr>" for d in decisions)
    rows_sim = ""
    if similar and similar.get("neighbours"):
        rows_sim = "".join(
            f"<tr><td>{escape(n['pseudo_id'])}</td><td>{n['distance']:.2f}</td>"
            f"<td>{escape(', '.join(closest_features(n)))}</td>"
            f"<td>{escape(', '.join(n['conditions']) or '-')}</td>"
            f"<td>{escape('; '.join(str(k) + ': ' + str(v) for k, v in n['outcomes'].items()) or '-')}</td></tr>"
            for n in similar["neighbours"])
    conditions = ", ".join(c["code"] for c in inputs.get("conditions", []))
    warnings = "".join(f"<li>{escape(w)}</li>" for w in result.get("warnings", []))
    kb = ", ".join(f"{k} v{v}" for k, v in result.get("knowledge_base", {}).items())
    currency = "".join(f"<li>{escape(g['title'])} ({escape(g['edition'])}): superseded by {escape(g['superseded_by'])}</li>"
                       for g in result.get("guidelines", []) if g.get("superseded_by"))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>ClinSight treatment review {escape(pseudo_id)}</title><style>{_CSS}</style></head><body>
<h1>Treatment options review: patient {escape(pseudo_id)}</h1>
<div class=muted>Generated {escape(utcnow())}{' by ' + escape(username) if username else ''} | age {escape(str(inputs.get('age')))},
sex {escape(str(inputs.get('sex')))} | conditions {escape(conditions) or '-'} | condition reviewed {escape(str(result.get('condition') or 'all recorded'))}</div>
<div class=disclaimer>{escape(result.get('disclaimer', ''))}</div>
{'<ul>' + warnings + '</ul>' if warnings else ''}
{'<div class=muted>Guideline currency:<ul>' + currency + '</ul></div>' if currency else ''}
<h2>Options (ranked by the guideline's strength of recommendation)</h2>
<table><tr><th>#</th><th>Option</th><th>Strength</th><th>Citation</th><th>Basis</th></tr>{rows_opt or '<tr><td colspan=5>None</td></tr>'}</table>
<h2>Blocked options</h2>
<table><tr><th>Option</th><th>Reason</th><th>Citation</th></tr>{rows_blocked or '<tr><td colspan=3>None</td></tr>'}</table>
<h2>Observations used</h2>
<table><tr><th>Code</th><th>Values</th></tr>{rows_obs or '<tr><td colspan=2>None recorded</td></tr>'}</table>
<h2>Decisions recorded</h2>
<table><tr><th>When (UTC)</th><th>Option</th><th>Decision</th><th>Reason</th><th>By</th></tr>{rows_dec or '<tr><td colspan=5>None yet</td></tr>'}</table>
{'<h2>Similar patients (evidence, not a recommendation)</h2><table><tr><th>Patient</th><th>Distance</th><th>Closest on</th><th>Conditions</th><th>Outcomes</th></tr>' + rows_sim + '</table>' if rows_sim else ''}
<p class=muted>Knowledge base: {escape(kb)}. ClinSight is decision support; the clinician decides.</p>
</body></html>"""
