"""What one Streamlit rerun costs, step by step: wall ms, CPU ms and store writes per script run.

Runs the real app (app.py through ``streamlit.testing`` AppTest, as tests/pages do) on a temp store with
the demo data seeded and one user per role, and walks: the log-in form and its submit (per role), Home,
Patient (search, open a record, record nothing), Predict (pick a model and a patient, press Predict,
record feedback), Ward (open the page) and Imaging (open the page; analyse a pediatric original from ../shared,
record feedback).

Per step it reports wall ms (``perf_counter``), CPU ms (``process_time``: the whole process, as AppTest runs
the script in a thread of this one), store connections opened and store writes (INSERT / UPDATE / DELETE
statements seen by a SQLite trace callback installed in :func:`engine.store.connect`). ``--profile N``
prints cProfile's top N functions by cumulative time over all steps.

A click inside an ``st.fragment`` reruns only that fragment in a browser; AppTest's ``run()`` always runs
the whole script. For those clicks (Predict's verdict and Record feedback, typing a Ward acknowledgement,
Imaging's feedback) the walk does both in the same
run: ``*_page`` is the whole-page run (what every click cost before the fragments), ``*_fragment`` the
fragment's own run (what it costs now). On a commit without the fragment, ``*_fragment`` falls back to a
whole-page run, so the same command measures before and after on both commits.

Run: ``nice -n 19 .venv/bin/python bench/rerun.py [--repeat 3] [--profile 40]``. Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
WORK = Path(tempfile.mkdtemp(prefix="clinsight-rerun-"))
os.environ["CLINSIGHT_DB"] = str(WORK / "clinsight.db")
os.environ.pop("CLINSIGHT_DATABASE_URL", None)

import engine.store as store  # noqa: E402 - after the environment names the temp store
from streamlit.testing.v1 import AppTest  # noqa: E402
from streamlit.util import calc_hash  # noqa: E402

from tests.pages.apptest_helpers import APP, APPTEST_DEADLINE_S, StoreCounter, run_fragment  # noqa: E402

PASSWORD = secrets.token_urlsafe(16)  # made per run, for a throwaway temp store
USERS = {"admin": "bench_admin", "clinician": "bench_doc", "analyst": "bench_ana"}


def seed_store() -> None:
    from engine import auth
    from engine.config import get_settings
    from engine.icu.seed import seed_icu
    from engine.seed import seed_all

    settings = get_settings()
    icu = next((d for d in (settings.icu_data_dir, settings.capacity_physionet_dir) if (d / "set-a").is_dir()), None)
    db = store.connect()
    try:
        seed_all(db)
        if icu is not None:  # the Ward page then ranks 40 real stays instead of saying there are none
            seed_icu(db, data_dir=icu, limit=40)
        for role, name in USERS.items():
            auth.create_user(db, name, PASSWORD, role, actor=None)
    finally:
        db.conn.close()


class Walk:
    """Times each ``at.run()`` of a scripted walk through the app."""

    def __init__(self, counter: StoreCounter) -> None:
        self.counter = counter
        self.steps: list[dict] = []

    def run(self, at: AppTest, step: str, act: Callable[[AppTest], object] | None = None,
            fragment: str | None = None) -> AppTest:
        if fragment is not None and fragment not in at._fragment_storage._ids_by_target_key:
            fragment = None  # a build without this fragment: the click reruns the whole page
        opens0, writes0 = self.counter.snapshot()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        if fragment is not None:
            run_fragment(at, fragment, act)
        else:
            if act is not None:
                act(at)
            at.run()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        opens, writes = self.counter.snapshot()
        if at.exception:
            raise RuntimeError(f"{step}: {at.exception[0].value}")
        self.steps.append({"step": step, "wall_ms": round(wall * 1000, 1), "cpu_ms": round(cpu * 1000, 1),
                           "store_opens": opens - opens0, "store_writes": writes - writes0})
        return at


def log_in(walk: Walk, role: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=APPTEST_DEADLINE_S)
    walk.run(at, f"first_run_{role}")  # includes AppTest's start-up (a server scans components once, at start)
    walk.run(at, f"login_form_{role}")
    at.text_input[0].input(USERS[role])
    at.text_input[1].input(PASSWORD)
    walk.run(at, f"login_submit_{role}", lambda a: a.button[0].click())  # argon2 + session + Home
    if not any(t.value == "ClinSight" for t in at.title) or at.text_input:
        raise RuntimeError(f"log-in as {role} did not reach Home")
    return at


def open_url(walk: Walk, at: AppTest, url_path: str, step: str) -> AppTest:
    at._page_hash = calc_hash(url_path)
    return walk.run(at, step)


def walk_app(walk: Walk) -> None:
    for role in ("admin", "analyst"):
        at = log_in(walk, role)
        walk.run(at, f"home_rerun_{role}")
    at = log_in(walk, "clinician")
    walk.run(at, "home_rerun_clinician")

    open_url(walk, at, "patient", "patient_open")
    walk.run(at, "patient_search", lambda a: a.text_input(key="patient_search").input("UCI-0001"))
    walk.run(at, "patient_pick", lambda a: a.selectbox(key="patient_pick").select("UCI-0001"))
    walk.run(at, "patient_rerun")

    open_url(walk, at, "predict", "predict_open")
    walk.run(at, "predict_model", lambda a: a.selectbox(key="predict_model").select("cad_uci"))
    walk.run(at, "predict_patient", lambda a: a.text_input(key="predict_patient").input("UCI-0001"))
    walk.run(at, "predict_press", lambda a: a.button(key="predict_run").click())
    if not any(m.label == "Probability" for m in at.metric):
        raise RuntimeError("Predict showed no probability")
    at.text_area(key="predict_reason").input("bench: a reason, so either verdict is accepted").run()
    for how, fragment in (("page", None), ("fragment", "predict_assessment")):
        walk.run(at, f"predict_verdict_{how}", lambda a: a.radio(key="predict_verdict").set_value(
            "disagree" if a.radio(key="predict_verdict").value == "agree" else "agree"), fragment)
        walk.run(at, f"predict_feedback_{how}", lambda a: a.button(key="predict_feedback").click(), fragment)
        if not any("Feedback recorded" in s.value for s in at.success):
            raise RuntimeError("Predict did not record the feedback")
    walk.run(at, "predict_rerun")

    open_url(walk, at, "ward", "ward_open")
    walk.run(at, "ward_rerun")
    stay = at.selectbox(key="ward_stay").value
    if any(t.key == f"ward_ack_reason_{stay}" for t in at.text_area):  # the top stay has an alert
        for how, fragment in (("page", None), ("fragment", "ward_acknowledgements")):
            walk.run(at, f"ward_ack_reason_{how}", lambda a: a.text_area(key=f"ward_ack_reason_{stay}").input(
                f"bench: reviewed ({how})"), fragment)
    open_url(walk, at, "imaging", "imaging_open")
    walk.run(at, "imaging_rerun")
    image = chest_radiograph()
    if image is None:
        return
    walk.run(at, "imaging_patient", lambda a: a.text_input(key="imaging_patient_query").input("UCI-0001"))
    walk.run(at, "imaging_upload", lambda a: a.file_uploader(key="imaging_upload").set_value(image))
    walk.run(at, "imaging_analyse", lambda a: a.button(key="imaging_analyse").click())
    pid = at.session_state["imaging_result"]["prediction_id"]
    for how, fragment in (("page", None), ("fragment", "imaging_feedback")):
        def agree(a):
            a.radio(key=f"imaging_verdict_{pid}").set_value("agree")
            a.button(key="imaging_feedback_submit").click()
        walk.run(at, f"imaging_feedback_{how}", agree, fragment)
        if not any("Feedback recorded" in s.value for s in at.success):
            raise RuntimeError("Imaging did not record the feedback")


def chest_radiograph() -> tuple[str, bytes, str] | None:
    """A film the served model reads (a withheld one shows no feedback form): the pediatric original the tests
    upload (tests/chest_films.py) from ../shared; None when it is not mounted, and the imaging clicks are left
    out of the walk (pydicom's adult chest CR, the only other film here, is withheld by the served model)."""
    from tests.chest_films import fullres_dir, pediatric_original

    if fullres_dir() is None:
        return None
    film = pediatric_original()
    return (film.name, film.read_bytes(), "image/jpeg")


PAGE_STEPS = ("home_rerun", "patient", "predict", "ward", "imaging")


def summarise(steps: list[dict]) -> dict:
    page = [s for s in steps if s["step"].startswith(PAGE_STEPS)]
    # Pure reads: a run with nothing changed (a redraw) and the log-in form; opening a record is a view (audited).
    reads = [s for s in steps if s["step"].endswith("_rerun") or s["step"].startswith("login_form")]
    submit = [s for s in steps if s["step"].startswith("login_submit")]
    return {
        "page_cpu_ms_total": round(sum(s["cpu_ms"] for s in page), 1),
        "page_cpu_ms_median": round(statistics.median(s["cpu_ms"] for s in page), 1),
        "login_form_cpu_ms_median": round(statistics.median(s["cpu_ms"] for s in steps
                                                            if s["step"].startswith("login_form")), 1),
        "login_submit_cpu_ms_median": round(statistics.median(s["cpu_ms"] for s in submit), 1),
        "store_writes_on_pure_reads": sum(s["store_writes"] for s in reads),
        "store_opens_per_page_rerun_median": statistics.median(s["store_opens"] for s in page),
    }


@contextmanager
def profiled_script_runs(profile: cProfile.Profile | None):
    """Profile the script thread (AppTest runs app.py in its own thread; cProfile sees one thread)."""
    if profile is None:
        yield
        return
    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner

    original = ScriptRunner._run_script

    def run_script(self, rerun_data):
        profile.enable()
        try:
            return original(self, rerun_data)
        finally:
            profile.disable()

    ScriptRunner._run_script = run_script
    try:
        yield
    finally:
        ScriptRunner._run_script = original


def measure(counter: StoreCounter, profile: cProfile.Profile | None) -> list[dict]:
    import streamlit as st

    st.cache_data.clear()  # each walk starts cold, as after a restart: a page's first open pays its cache miss
    walk = Walk(counter)
    counter.statements.clear()
    with profiled_script_runs(profile):
        walk_app(walk)
    return walk.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", type=int, default=0, help="print cProfile's top N functions (cumulative)")
    parser.add_argument("--repeat", type=int, default=1, help="walks measured (medians are reported)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    seed_store()
    counter = StoreCounter().install()
    measure(counter, None)  # warm-up: imports, first model loads, Streamlit's own start-up
    profile = cProfile.Profile() if args.profile else None
    walks = [measure(counter, profile) for _ in range(args.repeat)]
    steps = [{**walks[0][i], "cpu_ms": round(statistics.median(w[i]["cpu_ms"] for w in walks), 1),
              "wall_ms": round(statistics.median(w[i]["wall_ms"] for w in walks), 1)}
             for i in range(len(walks[0]))]
    print(f"{'step':<28} {'wall ms':>8} {'cpu ms':>8} {'opens':>6} {'writes':>6}")
    for s in steps:
        print(f"{s['step']:<28} {s['wall_ms']:>8} {s['cpu_ms']:>8} {s['store_opens']:>6} {s['store_writes']:>6}")
    if profile:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.profile)
        print(out.getvalue())
        print("store writes in the last walk:", *counter.statements, sep="\n  ")
    by_step = {s["step"]: s for s in steps}
    clicks = {}
    for click in ("predict_verdict", "predict_feedback", "ward_ack_reason", "imaging_feedback"):
        if f"{click}_page" not in by_step:
            continue
        page, fragment = by_step[f"{click}_page"]["cpu_ms"], by_step[f"{click}_fragment"]["cpu_ms"]
        clicks[click] = {"page_cpu_ms": page, "fragment_cpu_ms": fragment,
                         "ratio_fragment_vs_page": round(fragment / page, 3) if page else None}
    report = {"name": "rerun", "load_average": [round(x, 2) for x in os.getloadavg()], "repeat": args.repeat,
              **summarise(steps), "clicks": clicks, "steps": steps}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
