"""Bounded load test on loopback: N browser sessions log in and open a page at the same time.

Starts a real Streamlit server on a temp store (demo data seeded, one clinician
per session), then drives N Playwright browser contexts (separate cookies =
separate sessions) concurrently. Each session: open the app, wait for the login
form, log in, wait for the page's content (the "action"). Baseline: the same
with one session alone, measured first in the same run; ratios compare with it.

The action is data (:data:`ACTIONS`): ``home`` measures login to a rendered home
page; ``predict`` opens Predict, picks a seeded patient and measures the press of
the Predict button to the shown risk. Run: ``python bench/load.py --sessions 8 --action predict``.
Last line: one JSON object (sessions, sessions_held, median/p95 latency, errors).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.servers import running_streamlit  # noqa: E402 - needs the repository on sys.path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = secrets.token_urlsafe(16)  # made per run, for a throwaway temp store
TIMEOUT_MS = 120_000


async def action_home(page, index: int) -> float | None:
    """After login: the home page has rendered its content (the login latency is the measure)."""
    await page.get_by_text("What you can do here").wait_for(timeout=TIMEOUT_MS)
    return None


async def _settled(page) -> None:
    await page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=TIMEOUT_MS)


async def action_predict(page, index: int) -> float:
    """Open Predict, pick the coronary model and a seeded patient, press Predict; returns seconds to the result."""
    await page.get_by_text("What you can do here").wait_for(timeout=TIMEOUT_MS)
    await page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Predict", exact=True).click()
    await page.get_by_role("heading", name="Predict").wait_for(timeout=TIMEOUT_MS)
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Model").first
    await box.click()
    await page.get_by_role("option", name="Coronary artery disease (angiographic) (v1.0.0)").click()
    await _settled(page)
    patient = page.get_by_role("textbox", name="Pseudonymous patient id (e.g. UCI-0001)")
    await patient.fill(f"UCI-{index + 1:04d}")
    await patient.press("Enter")
    await _settled(page)
    start = time.perf_counter()
    await page.get_by_role("button", name="Predict", exact=True).click()
    await page.get_by_text("95% interval", exact=True).wait_for(timeout=TIMEOUT_MS)
    return time.perf_counter() - start


ACTIONS: dict[str, Callable[[object, int], Awaitable[float | None]]] = {"home": action_home,
                                                                         "predict": action_predict}


def prepare_store(db_path: Path, users: int) -> None:
    from engine import auth
    from engine.seed import seed_all
    from engine.store import connect

    db = connect(db_path)
    seed_all(db)
    auth.create_user(db, "loadadmin", PASSWORD, "admin", actor=None)
    auth.create_user(db, "loadbase", PASSWORD, "clinician", actor=None)
    for i in range(users):
        auth.create_user(db, f"load{i}", PASSWORD, "clinician", actor=None)
    db.conn.close()


async def one_session(browser, url: str, username: str, action, index: int = 0) -> dict:
    context = await browser.new_context(viewport={"width": 1280, "height": 1400})
    page = await context.new_page()
    result: dict = {"user": username}
    try:
        start = time.perf_counter()
        await page.goto(url, timeout=TIMEOUT_MS)
        await page.locator('input[aria-label="Username"]').wait_for(timeout=TIMEOUT_MS)
        result["form_s"] = time.perf_counter() - start
        await page.locator('input[aria-label="Username"]').fill(username)
        await page.locator('input[aria-label="Password"]').fill(PASSWORD)
        start = time.perf_counter()
        await page.get_by_role("button", name="Log in").click()
        await page.get_by_text(f"Signed in as {username}").wait_for(timeout=TIMEOUT_MS)
        result["login_s"] = time.perf_counter() - start
        action_s = await action(page, index)
        result["latency_s"] = action_s if action_s is not None else result["login_s"]
        result["page"] = page
        result["context"] = context
    except Exception as exc:  # noqa: BLE001 - counted as an error in the report
        result["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        await context.close()
    return result


async def still_signed_in(result: dict, username: str) -> bool:
    """Is this session still alive and signed in after everyone finished (the sidebar names the user)?"""
    try:
        await result["page"].get_by_text(f"Signed in as {username}").wait_for(timeout=10_000)
        return True
    except Exception:  # noqa: BLE001
        return False


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


async def run(sessions: int, action_name: str, base: str) -> dict:
    from playwright.async_api import async_playwright

    action = ACTIONS[action_name]
    url = f"{base}/"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # Warm-up (discarded: the server's first run loads models and builds caches), then the baseline.
        for who in ("loadadmin", "loadbase"):
            baseline = await one_session(browser, url, who, action, sessions)
            if "context" in baseline:
                await baseline["context"].close()
        results = await asyncio.gather(*(one_session(browser, url, f"load{i}", action, i) for i in range(sessions)))
        held = [await still_signed_in(r, r["user"]) if "page" in r else False for r in results]
        for r in results:
            if "context" in r:
                await r["context"].close()
        await browser.close()
    latencies = [r["latency_s"] for r in results if "latency_s" in r]
    forms = [r["form_s"] for r in results if "form_s" in r]
    logins = [r["login_s"] for r in results if "login_s" in r]
    base = baseline.get("latency_s")
    report = {
        "name": "load", "action": action_name, "sessions": sessions, "sessions_held": sum(held),
        "errors": sum(1 for r in results if "error" in r),
        "baseline_latency_s": round(base, 3) if base else None,
        "median_latency_s": round(statistics.median(latencies), 3) if latencies else None,
        "p95_latency_s": round(_p95(latencies), 3) if latencies else None,
        "median_form_s": round(statistics.median(forms), 3) if forms else None,
        "median_login_s": round(statistics.median(logins), 3) if logins else None,
        "p95_login_s": round(_p95(logins), 3) if logins else None,
        "ratio_median_vs_baseline": round(statistics.median(latencies) / base, 2) if latencies and base else None,
        "ratio_p95_vs_baseline": round(_p95(latencies) / base, 2) if latencies and base else None,
        "error_examples": [r["error"] for r in results if "error" in r][:3],
    }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--action", default="home", choices=sorted(ACTIONS))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="clinsight-load-") as tmp:
        db_path = Path(tmp) / "load.db"
        prepare_store(db_path, args.sessions)
        with running_streamlit(db_path) as base:
            report = asyncio.run(run(args.sessions, args.action, base))
    print(json.dumps(report))
    return 0 if report["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
