"""Protocol-level load through nginx: 1, 10, 30 and 50 concurrent sessions x log-in, predict, imaging x replicas.

Measured at the server, not in browsers: the clients are asyncio coroutines in this one process (a few ms of client
CPU per action), so the 2 cores go to the servers. The cluster is the one `make cluster` starts (deploy/cluster.py):
a throwaway PostgreSQL (tests/pg_cluster.py), the app replicas, the REST API workers and nginx, on free ports; first
with 1 app replica and 1 API worker (the baseline, in the same run), then with ``--replicas`` of each.

Actions (all sessions at once, back to back, no think time: a closed-loop stress, the worst case for latency):
- ``login``: the web log-in over Streamlit's own websocket protocol (the messages the browser sends): open
  ``/_stcore/stream`` through nginx with the session's route cookie, run the app (the log-in form comes back),
  submit the form's widgets (username, password, the submit trigger), until the run that shows "Signed in as"
  has finished: argon2id check, session row, the home page's run. A new websocket (a new Streamlit session) each.
- ``predict``: POST /api/v1/predict/{model} with a plausible record (stored with its audit row, as the page does).
- ``imaging``: POST /api/v1/imaging/predict with a real chest X-ray (Kermany et al. 2018 JPEG, 224 px): decode,
  quality checks, the CNN, Grad-CAM and the heat-map PNG.

Per (sessions x action x replicas): p50, p95, errors, and the servers' CPU-ms per action: utime+stime (and the
reaped children's cutime+cstime) from /proc/PID/stat of every server process and its children (app replicas, API
workers, nginx master and workers, PostgreSQL and its backends), before and after, divided by the actions done.

Usage: python bench/load_protocol.py [--sessions 1,10,30,50] [--replicas 2] [--actions login,predict,imaging]
       python bench/load_protocol.py --table result.json      # the README's markdown table from a saved last line
Last line: one JSON object (rows, ratios N vs 1 replica, the projection's inputs, load averages).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from deploy.cluster import Spec, start, stop  # noqa: E402 - needs the repository on sys.path
from deploy.processes import free_port, reachable_temp_dir  # noqa: E402
from tests.api.api_helpers import example_record  # noqa: E402
from tests.conftest import _env  # noqa: E402
from tests.pg_cluster import Cluster  # noqa: E402

ACTIONS = ("login", "predict", "imaging")
PER_SESSION = {"login": 2, "predict": 5, "imaging": 2}  # actions each session makes per phase, back to back
SIGNED_IN = "Signed in as"
TIMEOUT_S = 120.0
TICK = os.sysconf("SC_CLK_TCK")
CORES_PROJECTED = 16
UTILISATION = 0.7  # CPU share a host may run at before queueing pushes p95 up (M/M/16: 13% wait, mean 0.03x service)
# An ASSUMED mix of a clinician's actions for the projection's mixed row (not measured; change it to your ward's).
MIX = {"login": 0.05, "predict": 0.75, "imaging": 0.20}
MODEL = "cad_uci"  # the Predict page's coronary artery disease model (UCI heart disease, 4 sites)


# --- server CPU from /proc ---------------------------------------------------------------------------------------

def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, own utime+stime, reaped children's cutime+cstime) in clock ticks."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def server_ticks(roots: list[int]) -> int:
    """CPU ticks used so far by the processes ``roots`` and all their descendants (children that exited and were
    reaped count through their parent's cutime/cstime: PostgreSQL backends, for one)."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found:
                stats[int(entry)] = found
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo, seen = 0, [r for r in roots if r in stats], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        _, own, reaped = stats[pid]
        total += own + reaped
        todo.extend(children.get(pid, []))
    return total


# --- the clients -------------------------------------------------------------------------------------------------

async def _app_run(ws, widgets: list[tuple[str, str, object]] | None = None) -> list:
    """Ask the Streamlit session for a run (with these widget values) and return the elements it sent, once the
    run has finished successfully (ForwardMsg script_finished 0; 2 is "stopped for a rerun", which goes on)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    message = BackMsg()
    message.rerun_script.query_string = ""
    for widget_id, kind, value in widgets or []:
        state = message.rerun_script.widget_states.widgets.add()
        state.id = widget_id
        setattr(state, kind, value)
    await ws.send(message.SerializeToString())
    elements = []
    while True:
        forward = ForwardMsg()
        forward.ParseFromString(await ws.recv())
        kind = forward.WhichOneof("type")
        if kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
            element = forward.delta.new_element
            elements.append(getattr(element, element.WhichOneof("type")))
        elif kind == "script_finished" and forward.script_finished in (0, 1):
            if forward.script_finished == 1:
                raise RuntimeError("the app's script failed to compile")
            return elements


async def web_login(base: str, route: str, username: str, password: str) -> bool:
    """One web log-in over Streamlit's websocket protocol through nginx; True when the app says "Signed in as"."""
    import websockets

    url = base.replace("http://", "ws://", 1) + "/_stcore/stream"
    async with websockets.connect(url, subprotocols=["streamlit"], origin=base, max_size=None,
                                  additional_headers={"Cookie": f"clinsight_route={route}"},
                                  open_timeout=TIMEOUT_S) as ws:
        form = {getattr(e, "label", ""): e.id for e in await _app_run(ws) if getattr(e, "id", "")}
        shown = await _app_run(ws, [(form["Username"], "string_value", username),
                                    (form["Password"], "string_value", password),
                                    (form["Log in"], "trigger_value", True)])
    return any(SIGNED_IN in getattr(e, "body", "") for e in shown)


async def _one_session(httpx, base: str, token: str, action: str, payload, count: int,
                       latencies: list[float], errors: list[str], start_gate: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    client = None if action == "login" else httpx.AsyncClient(base_url=base + "/api", headers=headers,
                                                                timeout=TIMEOUT_S)
    try:
        await start_gate.wait()
        for _ in range(count):
            began = time.perf_counter()
            try:
                if action == "login":  # payload: (route cookie, username, password)
                    ok = await asyncio.wait_for(web_login(base, *payload), TIMEOUT_S)
                    if not ok:
                        errors.append("not signed in")
                    else:
                        latencies.append(time.perf_counter() - began)
                    continue
                if action == "predict":
                    response = await client.post(f"/v1/predict/{MODEL}", json={"record": payload})
                else:
                    name, data = payload
                    response = await client.post("/v1/imaging/predict", files={"file": (name, data, "image/jpeg")})
                ok = response.status_code == 200
                if not ok:
                    errors.append(f"{response.status_code}")
            # Every failure counts as an error, by its kind: HTTP and socket errors, time-outs, the app's failed run,
            # a log-in form without its fields (KeyError), and websockets' own (closed connection, bad handshake).
            except Exception as exc:
                ok = False
                errors.append(type(exc).__name__)
            if ok:
                latencies.append(time.perf_counter() - began)
    finally:
        if client is not None:
            await client.aclose()


async def run_phase(base: str, tokens: list[str], action: str, sessions: int, payloads: dict) -> dict:
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    gate = asyncio.Event()
    count = PER_SESSION[action]
    tasks = []
    for index in range(sessions):
        payload = payloads[action][index % len(payloads[action])] if payloads.get(action) else None
        tasks.append(asyncio.create_task(_one_session(httpx, base, tokens[index % len(tokens)], action, payload, count,
                                                      latencies, errors, gate)))
    await asyncio.sleep(0)  # let every session open its client before the gate opens
    began = time.perf_counter()
    gate.set()
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - began
    return {"latencies": latencies, "errors": errors, "wall_s": wall, "actions": sessions * count}


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# --- set-up ------------------------------------------------------------------------------------------------------

def _prepare_store(url: str, sessions: int) -> tuple[list[str], tuple[str, str]]:
    """Users and one API token per session in the fresh database; returns the tokens and the clinician's
    (username, password) for the web log-ins."""
    from engine import auth
    from engine.api_tokens import create_token
    from engine.store import open_db
    from engine.store.postgres import dispose_engines

    secret = os.urandom(12).hex()  # bench-only passwords, made per run, for a throwaway store
    with _env("CLINSIGHT_DATABASE_URL", url), open_db() as db:
        auth.create_user(db, "load_admin", f"load-admin-{secret}", "admin", actor=None)
        auth.create_user(db, "load_clinician", f"load-clinician-{secret}", "clinician", actor="load_admin")
        tokens = [create_token(db, "load_clinician", actor="load_admin", label=f"load {i}") for i in range(sessions)]
    dispose_engines(url)
    return tokens, ("load_clinician", f"load-clinician-{secret}")


def _payloads(url: str) -> dict:
    from engine.api import features
    from engine.config import get_settings

    with _env("CLINSIGHT_DATABASE_URL", url):
        record = example_record(features.load("model_card")(MODEL))
    folder = get_settings().xray_data_dir / "train"
    images = sorted((folder / "NORMAL").glob("*.jpeg"))[:10] + sorted((folder / "PNEUMONIA").glob("*.jpeg"))[:10]
    return {"predict": [record], "imaging": [(f"xray{i}.jpeg", p.read_bytes()) for i, p in enumerate(images)]}


# --- the run -----------------------------------------------------------------------------------------------------

def measure(levels: list[int], replica_counts: list[int], actions: list[str]) -> dict:
    pg = Cluster().start()
    state = reachable_temp_dir("clinsight-load-")  # nginx runs as www-data under root
    rows = []
    try:
        url = pg.create_database("clinsight")
        tokens, (username, password) = _prepare_store(url, max(levels))
        payloads = _payloads(url)
        # One route cookie per session: nginx spreads the sessions over the replicas as it would browsers.
        payloads["login"] = [(f"load{i}", username, password) for i in range(max(levels))]
        if "imaging" in actions and not payloads["imaging"]:
            print("no chest X-rays under CLINSIGHT_XRAY_DATA/train: imaging left out", file=sys.stderr)
            actions = [a for a in actions if a != "imaging"]
        for replicas in replica_counts:
            info = start(Spec(state=state, replicas=replicas, api_workers=replicas,
                              listen=f"127.0.0.1:{free_port()}", database_url=url, seed=False, detach=False,
                              env_file=None))
            try:
                roots = [p["pid"] for p in info["processes"]] + [pg.process.pid]
                base = info["url"]
                # Warm-up (imports, models, pools, each replica's first page run): not measured.
                warm = {**payloads, "login": [(f"warm{i}", username, password) for i in range(4 * replicas)]}
                asyncio.run(run_phase(base, tokens, "predict", 2 * replicas, payloads))
                if "imaging" in actions:
                    asyncio.run(run_phase(base, tokens, "imaging", 2 * replicas, payloads))
                if "login" in actions:
                    asyncio.run(run_phase(base, tokens, "login", 4 * replicas, warm))
                for action in actions:
                    for sessions in levels:
                        before = server_ticks(roots)
                        result = asyncio.run(run_phase(base, tokens, action, sessions, payloads))
                        spent_ms = (server_ticks(roots) - before) * 1000 / TICK
                        lat = result["latencies"]
                        row = {"sessions": sessions, "action": action, "replicas": replicas,
                               "actions": result["actions"], "ok": len(lat), "errors": len(result["errors"]),
                               "error_kinds": sorted(set(result["errors"])),
                               "p50_ms": None if not lat else round(statistics.median(lat) * 1000, 1),
                               "p95_ms": None if not lat else round(_percentile(lat, 0.95) * 1000, 1),
                               "cpu_ms_per_action": round(spent_ms / max(1, result["actions"]), 1),
                               "throughput_per_s": round(len(lat) / result["wall_s"], 1)}
                        rows.append(row)
                        print(f"{replicas} replica(s) {action:<8} {sessions:>3} sessions: p50 {row['p50_ms']} ms, "
                              f"p95 {row['p95_ms']} ms, errors {row['errors']} {row['error_kinds']}, "
                              f"{row['cpu_ms_per_action']} CPU-ms/action", flush=True)
            finally:
                stop(state)
    finally:
        stop(state)
        from engine.store.postgres import dispose_engines

        dispose_engines()
        pg.stop()
        shutil.rmtree(state, ignore_errors=True)
    return {"rows": rows, "actions": actions}


def projection(rows: list[dict], think_s: float) -> dict:
    """A projection on paper, not a measurement: CPU-ms per action (the highest measured at the most replicas,
    contention included) -> actions/s a 16-core host sustains at 70% CPU -> sessions at one action per
    ``think_s`` seconds each. Valid only while one action alone stays well under 1 s (its p50 at 1 session)."""
    most = max(r["replicas"] for r in rows)
    out = {}
    for action in sorted({r["action"] for r in rows}):
        mine = [r for r in rows if r["action"] == action and r["replicas"] == most and r["errors"] == 0]
        if not mine:
            continue
        cpu = max(r["cpu_ms_per_action"] for r in mine)
        per_s = CORES_PROJECTED * 1000 * UTILISATION / cpu
        alone = min(mine, key=lambda r: r["sessions"])
        out[action] = {"cpu_ms": cpu, "actions_per_s": round(per_s, 1), "sessions": int(per_s * think_s),
                       "p50_ms_alone": alone["p50_ms"]}
    result = {"cores": CORES_PROJECTED, "utilisation": UTILISATION, "think_s": think_s, "per_action": out}
    weights = {a: w for a, w in MIX.items() if a in out}
    if len(weights) > 1:
        total = sum(weights.values())
        cpu = sum(out[a]["cpu_ms"] * w for a, w in weights.items()) / total
        per_s = CORES_PROJECTED * 1000 * UTILISATION / cpu
        result["mix"] = {"weights": ", ".join(f"{a} {w / total:.0%}" for a, w in weights.items()),
                         "cpu_ms": round(cpu, 1), "actions_per_s": round(per_s, 1), "sessions": int(per_s * think_s)}
    return result


def markdown(result: dict) -> str:
    lines = ["| sessions | action | replicas | p50 ms | p95 ms | errors | CPU-ms/action | actions/s |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(result["rows"], key=lambda r: (ACTIONS.index(r["action"]), r["sessions"], r["replicas"])):
        lines.append(f"| {r['sessions']} | {r['action']} | {r['replicas']} | {r['p50_ms']} | {r['p95_ms']} | "
                     f"{r['errors']} | {r['cpu_ms_per_action']} | {r['throughput_per_s']} |")
    proj = result["projection"]
    lines += ["", f"PROJECTION (on paper, from CPU-ms per action; not measured): a {proj['cores']}-core host at "
              f"{int(proj['utilisation'] * 100)}% CPU, each session doing one action every {proj['think_s']:.0f} s:", "",
              "| action | CPU-ms/action | actions/s | sessions |", "|---|---:|---:|---:|"]
    for action, p in proj["per_action"].items():
        lines.append(f"| {action} | {p['cpu_ms']} | {p['actions_per_s']} | {p['sessions']} |")
    if proj.get("mix"):
        mix = proj["mix"]
        lines.append(f"| mix {mix['weights']} | {mix['cpu_ms']} | {mix['actions_per_s']} | {mix['sessions']} |")
    lines += ["", f"Measured with load average {result['load_avg_start']} at the start and {result['load_avg_end']} "
              f"at the end (`{result['command']}`)."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="1,10,30,50", help="concurrent session counts")
    parser.add_argument("--replicas", type=int, default=2,
                        help="app replicas and API workers (each) for the N leg; the baseline is 1 of each")
    parser.add_argument("--actions", default=",".join(ACTIONS))
    parser.add_argument("--think-s", type=float, default=30.0, help="the projection's seconds between a session's actions")
    parser.add_argument("--xray-data", type=Path, help="chest X-ray folder (default CLINSIGHT_XRAY_DATA)")
    parser.add_argument("--table", type=Path, help="print the markdown table from a saved last line and stop")
    args = parser.parse_args()
    if args.table:
        print(markdown(json.loads(args.table.read_text().strip().splitlines()[-1])))
        return 0
    if args.xray_data:
        os.environ["CLINSIGHT_XRAY_DATA"] = str(args.xray_data)
    levels = [int(s) for s in args.sessions.split(",")]
    actions = [a for a in args.actions.split(",") if a]
    load_start = os.getloadavg()
    measured = measure(levels, sorted({1, args.replicas}), actions)
    rows = measured["rows"]
    ratios = {}
    for r in rows:
        if r["replicas"] == args.replicas and args.replicas != 1:
            base = next((b for b in rows if b["replicas"] == 1 and b["action"] == r["action"]
                         and b["sessions"] == r["sessions"]), None)
            if base and base["p95_ms"] and r["p95_ms"]:
                ratios[f"{r['action']}@{r['sessions']}"] = round(r["p95_ms"] / base["p95_ms"], 3)
    result = {"name": "load_protocol", "command": "python bench/load_protocol.py " + " ".join(sys.argv[1:]),
              "cores_here": os.cpu_count(), "load_avg_start": [round(x, 2) for x in load_start],
              "load_avg_end": [round(x, 2) for x in os.getloadavg()], "rows": rows,
              "ratio_p95_N_vs_1": ratios, "errors": sum(r["errors"] for r in rows)}
    result["projection"] = projection(rows, args.think_s)
    print(markdown(result))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
