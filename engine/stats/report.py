"""The analysis report: results the analyst pinned during a session, as one HTML file.

Each pinned result carries its cohort (name, n and definition), a methods
sentence, its table, its figure and its caveats, so the report reads as a
results section without the app. The file is self-contained and works offline:
plotly.js is embedded once, figures stay interactive, and print CSS lays it out
for paper. The PDF is that same HTML printed by headless Chromium (the browser
Debian ships, already used by the browser tests): the only offline renderer
here that draws the plotly figures exactly as on screen (kaleido would need a
browser download; fpdf2/weasyprint cannot run plotly's JavaScript). Where
Chromium is absent the PDF export says so and the HTML remains.
"""
from __future__ import annotations

import html
import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from engine.config import get_settings
from engine.errors import EngineError
from engine.store import utcnow

# Headless print flags: no network, no profile state, no sandbox (containers run as root).
CHROMIUM_PDF_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-quic", "--run-all-compositor-stages-before-draw", "--virtual-time-budget=15000",
                     "--no-pdf-header-footer")

REPORT_CSS = """
body { font-family: 'Liberation Sans', Arial, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; border-bottom: 1px solid #ccc; padding-bottom: .2rem; }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: .25rem .5rem; text-align: left; }
th { background: #f4f6f8; }
.cohort { color: #555; font-size: .9rem; } .methods { font-style: italic; }
.caveats li { color: #8a4b00; }
section.result { page-break-inside: avoid; margin-bottom: 2rem; }
.statistics td:first-child { color: #555; }
@media print { section.result { page-break-after: always; } .plotly-graph-div { max-width: 100%; }
               .modebar, .modebar-container { display: none !important; } }
"""


@dataclass
class Pin:
    """One pinned result: plain data (JSON-able) so it can live in a session and a file."""

    title: str
    kind: str
    cohort_label: str
    cohort_definition: str
    methods: str
    table_html: str = ""
    figure_json: str | None = None
    caveats: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=utcnow)
    statistics: dict[str, str] = field(default_factory=dict)   # e.g. a model's fit: {"AIC": "612.3"}


def frame_html(frame: pd.DataFrame, digits: int = 4) -> str:
    """A results frame as an HTML table with numbers to ``digits`` significant figures."""
    return frame.to_html(index=False, na_rep="", border=0, escape=True,
                         float_format=lambda v: f"{v:.{digits}g}")


def make_pin(title: str, kind: str, cohort_label: str, cohort_definition: str, methods: str, *,
             table: pd.DataFrame | str | None = None, figure=None, caveats: list[str] | None = None,
             statistics: dict[str, str] | None = None) -> Pin:
    """Build a pin from a result's parts (``figure`` is a plotly Figure; ``statistics`` are named values
    already formatted, e.g. a regression's fit statistics)."""
    table_html = table if isinstance(table, str) else (frame_html(table) if table is not None else "")
    return Pin(title, kind, cohort_label, cohort_definition, methods, table_html,
               figure.to_json() if figure is not None else None, list(caveats or []),
               statistics={str(k): str(v) for k, v in (statistics or {}).items()})


def build_report_html(pins: list[Pin], *, title: str = "ClinSight analysis report", author: str = "",
                      generated_at: str | None = None, for_print: bool = False) -> str:
    """One self-contained HTML document of ``pins`` in the order they were pinned.

    ``for_print`` (the PDF) draws figures as static plots without Plotly's toolbar, which would
    otherwise be printed over the top-right corner of each figure."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    generated_at = generated_at or utcnow()
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{REPORT_CSS}</style>"]
    if any(p.figure_json for p in pins):
        parts.append(f"<script type='text/javascript'>{get_plotlyjs()}</script>")
    parts.append("</head><body>")
    parts.append(f"<h1>{html.escape(title)}</h1>")
    parts.append(f"<p class='cohort'>Generated {html.escape(generated_at)}"
                 + (f" by {html.escape(author)}" if author else "")
                 + f" · {len(pins)} result{'s' if len(pins) != 1 else ''}. Decision support output for review; "
                 "pseudonymised data, no patient identifiers.</p>")
    cohorts = list(dict.fromkeys((p.cohort_label, p.cohort_definition) for p in pins))
    if cohorts:
        parts.append("<h2>Cohorts</h2><ul>" + "".join(
            f"<li><strong>{html.escape(label)}</strong>: {html.escape(definition)}</li>"
            for label, definition in cohorts) + "</ul>")
    if not pins:
        parts.append("<p>No results were pinned.</p>")
    for i, pin in enumerate(pins, start=1):
        parts.append("<section class='result'>")
        parts.append(f"<h2>{i}. {html.escape(pin.title)}</h2>")
        parts.append(f"<p class='cohort'>Cohort: {html.escape(pin.cohort_label)}</p>")
        parts.append(f"<p class='methods'>Methods: {html.escape(pin.methods)}</p>")
        if pin.figure_json:
            fig = pio.from_json(pin.figure_json)
            config = {"displayModeBar": False, "staticPlot": True} if for_print else {"displaylogo": False}
            parts.append(pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=f"figure-{i}",
                                     config=config))
        if pin.statistics:
            parts.append("<table class='statistics'><caption>Fit statistics</caption>" + "".join(
                f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in pin.statistics.items())
                + "</table>")
        if pin.table_html:
            parts.append(pin.table_html)
        if pin.caveats:
            parts.append("<ul class='caveats'>" + "".join(f"<li>{html.escape(c)}</li>" for c in pin.caveats)
                         + "</ul>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def pins_to_json(pins: list[Pin]) -> str:
    return json.dumps([p.__dict__ for p in pins])


class PdfUnavailableError(EngineError):
    """The PDF renderer (headless Chromium) is missing or failed; the HTML report still works."""


def pdf_available() -> bool:
    return get_settings().chromium_path.exists()


def build_report_pdf(report_html: str) -> bytes:
    """Print a report (from :func:`build_report_html`) to PDF with headless Chromium, offline."""
    settings = get_settings()
    chromium = settings.chromium_path
    if not chromium.exists():
        raise PdfUnavailableError(f"PDF export needs Chromium at {chromium} (set CLINSIGHT_CHROMIUM); "
                                  "export the HTML report and print it from a browser instead.")
    with tempfile.TemporaryDirectory(prefix="clinsight-report-") as tmp:
        source, target = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        source.write_text(report_html, encoding="utf-8")
        try:
            subprocess.run([str(chromium), *CHROMIUM_PDF_ARGS, f"--user-data-dir={tmp}/profile",
                            f"--print-to-pdf={target}", source.as_uri()], capture_output=True,
                           timeout=settings.report_pdf_timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise PdfUnavailableError("Printing the report to PDF took too long; export the HTML instead.") from None
        if not target.exists() or target.stat().st_size == 0 or not target.read_bytes().startswith(b"%PDF"):
            raise PdfUnavailableError("Chromium did not produce a PDF; export the HTML report instead.")
        return target.read_bytes()
