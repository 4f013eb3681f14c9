"""Load benchmark: concurrent clients running mixed jobs through the client API.

Starts the real app (`python app.py`, fresh temporary DATA_DIR, free port; or uses --url), then
`--clients` clients (default 20) at once, each in its own project, each submitting `--jobs` jobs
(default 5) one after the other, kinds taken in turn from: speak (a sentence in the default voice),
talking head (a portrait speaking a sentence) and a short song (two lines of lyrics, 10 s, the shortest
allowed), each client starting at a different kind. Every result is downloaded, as a client would.

Prints, and asserts nothing:
  * errors: every job that raised, with its message (there should be none);
  * lost rows: per client, jobs that returned against the generations /list_generations shows for
    its project, by kind (none should be missing, none extra);
  * latency per kind, submit to downloaded result (queue wait included): p50, p95, max.

    python bench/load.py [--clients 20] [--jobs 5] [--url http://127.0.0.1:7860/]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORTRAIT = ROOT / "tests" / "data" / "portraits" / "art_1.png"
KINDS = ("speak", "talking_head", "song")
LYRICS = "[Verse]\nThe light is burning on the shore\n[Chorus]\nHold on, hold on, the storm will pass"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(tmp: Path, timeout_s: float = 120) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(tmp / "data"), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1"}
    with open(tmp / "app.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited:\n{(tmp / 'app.log').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "gradio_api/info", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError(f"the app did not answer in {timeout_s:g} s")


def run_job(client, kind: str, project_id: int, n: int):
    from gradio_client import handle_file

    text = f"Client job number {n} says hello."
    if kind == "speak":
        return client.predict(text=text, project_id=project_id, api_name="/speak")
    if kind == "talking_head":
        return client.predict(portrait=handle_file(str(PORTRAIT)), text=text, size=256, fps=25,
                              project_id=project_id, api_name="/talking_head")
    return client.predict(theme="a lighthouse", title=f"Keeper {n}", lyrics=LYRICS, music_style="pop",
                          duration_s=10, seed=n, project_id=project_id, api_name="/compose_song")


def client_run(url: str, index: int, jobs: int, downloads: Path, out: dict, start: threading.Barrier) -> None:
    from gradio_client import Client

    try:
        client = Client(url, verbose=False, download_files=str(downloads / f"client{index}"))
        project = client.predict(name=f"Load client {index}", api_name="/create_project")
    except Exception as e:
        out["errors"].append((index, "setup", f"{type(e).__name__}: {e}".strip()[:300]))
        start.wait()
        return
    start.wait()
    done: Counter = Counter()
    for j in range(jobs):
        kind = KINDS[(index + j) % len(KINDS)]
        t0 = time.perf_counter()
        try:
            run_job(client, kind, project["id"], index * 100 + j)
        except Exception as e:  # every failure is a figure to print
            out["errors"].append((index, kind, f"{type(e).__name__}: {e}".strip()[:300]))
            continue
        out["latency"][kind].append(time.perf_counter() - t0)
        done[kind] += 1
    try:
        rows = client.predict(project_id=project["id"], api_name="/list_generations")
    except Exception as e:
        out["errors"].append((index, "list_generations", f"{type(e).__name__}: {e}".strip()[:300]))
        return
    out["rows"].append((index, done, Counter(g["kind"] for g in rows if g["status"] == "succeeded")))


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--jobs", type=int, default=5, help="jobs per client")
    p.add_argument("--url", help="a running app (default: start one with a fresh data folder)")
    args = p.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    proc = None
    try:
        url = args.url
        if url is None:
            proc, url = start_app(tmp)
        out = {"errors": [], "latency": defaultdict(list), "rows": []}
        start = threading.Barrier(args.clients + 1)
        threads = [threading.Thread(target=client_run, args=(url, i, args.jobs, tmp / "downloads", out, start),
                                    daemon=True) for i in range(args.clients)]
        for t in threads:
            t.start()
        start.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0

        submitted = args.clients * args.jobs
        print(f"{args.clients} clients x {args.jobs} jobs = {submitted} jobs in {wall:.1f} s "
              f"({os.cpu_count()} CPUs)")
        print(f"errors: {len(out['errors'])}")
        for index, kind, message in out["errors"]:
            print(f"  client {index} {kind}: {message}")
        lost = extra = 0
        for index, done, listed in sorted(out["rows"], key=lambda r: r[0]):
            for kind in KINDS:
                if listed[kind] < done[kind]:
                    lost += done[kind] - listed[kind]
                    print(f"  client {index}: {done[kind]} {kind} returned, {listed[kind]} listed")
            extra += sum((listed - done).values())
        if len(out["rows"]) < args.clients:
            print(f"  {args.clients - len(out['rows'])} clients did not get to list their generations")
        print(f"lost rows: {lost} (rows listed but not returned: {extra})")
        print("latency, submit to downloaded result (s):")
        print(f"  {'kind':<13}{'n':>4}{'p50':>8}{'p95':>8}{'max':>8}")
        for kind in KINDS:
            v = out["latency"][kind]
            if v:
                print(f"  {kind:<13}{len(v):>4}{statistics.median(v):>8.1f}{pct(v, 0.95):>8.1f}{max(v):>8.1f}")
        return 0
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
