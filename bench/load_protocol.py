"""Protocol-level load through nginx: 1, 10, 30 and 50 concurrent sessions x log-in, predict, imaging x replicas.

Measured at the server, not in browsers: the clients are asyncio + httpx coroutines in this one process (a few
ms of client CPU per request), so the 2 cores go to the servers. The cluster is the one `make cluster` starts
(deploy/cluster.py): a throwaway PostgreSQL (tests/pg_cluster.py), the REST API workers, one app replica (idle
here) and nginx on free ports; first with 1 API worker (the baseline, in the same run), then with ``--workers``.

Actions (each session is one API client with its own token and connection, all sessions at once, no think time:
a closed-loop stress, the worst case for latency):
- ``login``: what opening a session costs over the API: a new TCP connection, the token check (hash lookup, role),
  the first read (GET /v1/models). The web log-in's password check (argon2id, deliberately slow) is not on this
  path; its CPU cost is measured in-process beside (``web_login_cpu_ms``) so the projection can count it.
- ``predict``: POST /v1/predict/{model} with a plausible record (stored with its audit row, as the page does).
- ``imaging``: POST /v1/imaging/predict with a real chest X-ray (Kermany et al. 2018 JPEG, 224 px): decode,
  quality checks, the CNN, Grad-CAM and the heat-map PNG.

Per (sessions x action x workers): p50, p95, errors, and the servers' CPU-ms per action: utime+stime (and the
reaped children's cutime+cstime) from /proc/PID/stat of every server process and its children (API workers, app
replica, nginx master and workers, PostgreSQL and its backends), before and after, divided by the actions done.

Usage: python bench/load_protocol.py [--sessions 1,10,30,50] [--workers 2] [--actions login,predict,imaging]
       python bench/load_protocol.py --table result.json      # the README's markdown table from a saved last line
Last line: one JSON object (rows, ratios N vs 1 worker, the projection's inputs, load averages).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from deploy.cluster import Spec, start, stop  # noqa: E402 - needs the repository on sys.path
from tests.api.api_helpers import example_record  # noqa: E402
from tests.conftest import _env  # noqa: E402
from tests.pg_cluster import Cluster  # noqa: E402
from tests.servers import free_port  # noqa: E402

ACTIONS = ("login", "predict", "imaging")
PER_SESSION = {"login": 3, "predict": 5, "imaging": 2}  # actions each session makes per phase, back to back
TIMEOUT_S = 120.0
TICK = os.sysconf("SC_CLK_TCK")
CORES_PROJECTED = 16
UTILISATION = 0.7  # CPU share a host may run at before queueing pushes p95 up (M/M/16: mean wait ~0.1x service)
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

async def _one_session(httpx, base: str, token: str, action: str, payload, count: int,
                       latencies: list[float], errors: list[str], start_gate: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    client = None if action == "login" else httpx.AsyncClient(base_url=base, headers=headers, timeout=TIMEOUT_S)
    try:
        await start_gate.wait()
        for _ in range(count):
            began = time.perf_counter()
            try:
                if action == "login":  # a new connection each time: the session opening, not a reused one
                    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=TIMEOUT_S) as fresh:
                        response = await fresh.get("/v1/models")
                elif action == "predict":
                    response = await client.post(f"/v1/predict/{MODEL}", json={"record": payload})
                else:
                    name, data = payload
                    response = await client.post("/v1/imaging/predict", files={"file": (name, data, "image/jpeg")})
                ok = response.status_code == 200
                if not ok:
                    errors.append(f"{response.status_code}")
            except httpx.HTTPError as exc:
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
        tasks.append(asyncio.create_task(_one_session(httpx, base, tokens[index], action, payload, count,
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

def _prepare_store(url: str, sessions: int) -> list[str]:
    """Users and one API token per session in the fresh database; returns the tokens."""
    from engine import auth
    from engine.api_tokens import create_token
    from engine.store import connect
    from engine.store.postgres import dispose_engines

    secret = os.urandom(12).hex()  # bench-only passwords, made per run, for a throwaway store
    with _env("CLINSIGHT_DATABASE_URL", url):
        db = connect()
        try:
            auth.create_user(db, "load_admin", f"load-admin-{secret}", "admin", actor=None)
            auth.create_user(db, "load_clinician", f"load-clinician-{secret}", "clinician", actor="load_admin")
            tokens = [create_token(db, "load_clinician", actor="load_admin", label=f"load {i}") for i in range(sessions)]
        finally:
            db.conn.close()
    dispose_engines(url)
    return tokens


def web_login_cpu_ms(url: str, repeats: int = 5) -> float:
    """CPU-ms of the web log-in's server-side core in this process: argon2id check + session row + ticket + audit."""
    from engine import auth
    from engine.store import connect
    from engine.store.postgres import dispose_engines
    from engine.websession.service import start_session

    password = f"web-login-{os.urandom(8).hex()}"
    with _env("CLINSIGHT_DATABASE_URL", url):
        db = connect()
        try:
            auth.create_user(db, "load_web", password, "clinician", actor="load_admin")
            spent = []
            for _ in range(repeats):
                began = time.process_time()
                auth.authenticate(db, "load_web", password)
                start_session(db, "load_web")
                spent.append((time.process_time() - began) * 1000)
        finally:
            db.conn.close()
    dispose_engines(url)
    return round(statistics.median(spent), 1)


def _payloads(url: str) -> dict:
    from engine.api import features
    from engine.config import get_settings

    with _env("CLINSIGHT_DATABASE_URL", url):
        record = example_record(features.load("model_card")(MODEL))
    folder = get_settings().xray_data_dir / "train"
    images = sorted((folder / "NORMAL").glob("*.jpeg"))[:10] + sorted((folder / "PNEUMONIA").glob("*.jpeg"))[:10]
    return {"predict": [record], "imaging": [(f"xray{i}.jpeg", p.read_bytes()) for i, p in enumerate(images)]}


# --- the run -----------------------------------------------------------------------------------------------------

def measure(levels: list[int], workers_list: list[int], actions: list[str]) -> dict:
    pg = Cluster().start()
    state = Path(tempfile.mkdtemp(prefix="clinsight-load-", dir="/tmp" if os.geteuid() == 0 else None))
    state.chmod(0o755)  # nginx runs as www-data under root
    rows = []
    try:
        url = pg.create_database("clinsight")
        tokens = _prepare_store(url, max(levels))
        payloads = _payloads(url)
        if "imaging" in actions and not payloads["imaging"]:
            print("no chest X-rays under CLINSIGHT_XRAY_DATA/train: imaging left out", file=sys.stderr)
            actions = [a for a in actions if a != "imaging"]
        login_cpu = web_login_cpu_ms(url)
        for workers in workers_list:
            info = start(Spec(state=state, replicas=1, api_workers=workers, listen=f"127.0.0.1:{free_port()}",
                              database_url=url, seed=False, detach=False, env_file=None))
            try:
                roots = [p["pid"] for p in info["processes"]] + [pg.process.pid]
                base = info["api_url"]
                asyncio.run(run_phase(base, tokens, "predict", 2, payloads))  # warm-up: imports, models, pools
                if "imaging" in actions:
                    asyncio.run(run_phase(base, tokens, "imaging", workers, payloads))
                for action in actions:
                    for sessions in levels:
                        before = server_ticks(roots)
                        result = asyncio.run(run_phase(base, tokens, action, sessions, payloads))
                        spent_ms = (server_ticks(roots) - before) * 1000 / TICK
                        lat = result["latencies"]
                        row = {"sessions": sessions, "action": action, "workers": workers,
                               "actions": result["actions"], "ok": len(lat), "errors": len(result["errors"]),
                               "error_kinds": sorted(set(result["errors"])),
                               "p50_ms": None if not lat else round(statistics.median(lat) * 1000, 1),
                               "p95_ms": None if not lat else round(_percentile(lat, 0.95) * 1000, 1),
                               "cpu_ms_per_action": round(spent_ms / max(1, result["actions"]), 1),
                               "throughput_per_s": round(len(lat) / result["wall_s"], 1)}
                        rows.append(row)
                        print(f"{workers} worker(s) {action:<8} {sessions:>3} sessions: p50 {row['p50_ms']} ms, "
                              f"p95 {row['p95_ms']} ms, errors {row['errors']}, "
                              f"{row['cpu_ms_per_action']} CPU-ms/action", flush=True)
            finally:
                stop(state)
    finally:
        stop(state)
        from engine.store.postgres import dispose_engines

        dispose_engines()
        pg.stop()
        shutil.rmtree(state, ignore_errors=True)
    return {"rows": rows, "web_login_cpu_ms": login_cpu, "actions": actions}


def projection(rows: list[dict], web_login_cpu_ms: float, think_s: float) -> dict:
    """A projection on paper, not a measurement: CPU-ms per action (the highest measured at the most workers,
    contention included) -> actions/s a 16-core host sustains at 70% CPU -> sessions at one action per
    ``think_s`` seconds each. Valid only while one action alone stays well under 1 s (its p50 at 1 session)."""
    most = max(r["workers"] for r in rows)
    out = {}
    for action in sorted({r["action"] for r in rows}):
        mine = [r for r in rows if r["action"] == action and r["workers"] == most and r["errors"] == 0]
        if not mine:
            continue
        cpu = max(r["cpu_ms_per_action"] for r in mine)
        if action == "login":
            cpu = round(cpu + web_login_cpu_ms, 1)  # the web log-in adds the argon2id check
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
    lines = ["| sessions | action | API workers | p50 ms | p95 ms | errors | CPU-ms/action | actions/s |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(result["rows"], key=lambda r: (ACTIONS.index(r["action"]), r["sessions"], r["workers"])):
        lines.append(f"| {r['sessions']} | {r['action']} | {r['workers']} | {r['p50_ms']} | {r['p95_ms']} | "
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
    parser.add_argument("--workers", type=int, default=2, help="API workers for the N leg (the baseline is 1)")
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
    measured = measure(levels, sorted({1, args.workers}), actions)
    rows = measured["rows"]
    ratios = {}
    for r in rows:
        if r["workers"] == args.workers and args.workers != 1:
            base = next((b for b in rows if b["workers"] == 1 and b["action"] == r["action"]
                         and b["sessions"] == r["sessions"]), None)
            if base and base["p95_ms"] and r["p95_ms"]:
                ratios[f"{r['action']}@{r['sessions']}"] = round(r["p95_ms"] / base["p95_ms"], 3)
    result = {"name": "load_protocol", "command": "python bench/load_protocol.py " + " ".join(sys.argv[1:]),
              "cores_here": os.cpu_count(), "load_avg_start": [round(x, 2) for x in load_start],
              "load_avg_end": [round(x, 2) for x in os.getloadavg()], "rows": rows,
              "ratio_p95_N_vs_1": ratios, "web_login_cpu_ms": measured["web_login_cpu_ms"],
              "errors": sum(r["errors"] for r in rows)}
    result["projection"] = projection(rows, measured["web_login_cpu_ms"], args.think_s)
    print(markdown(result))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
