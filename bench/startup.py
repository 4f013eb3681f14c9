"""Start-up benchmark: how long `python app.py` takes to answer, and how much memory it holds idle.

Each run starts the real app in a subprocess (fresh temporary DATA_DIR, free port) and measures,
from the moment the process is spawned:

  * the first answered HTTP request (GET /gradio_api/info returns 200);
  * the first successful `/capabilities` call through gradio_client (Client construction included);

then leaves the app idle for a few seconds and reads its resident memory (the process and its
children, via psutil). It also notes which heavy ML libraries are loaded at idle: the app is meant
to import them only when a neural backend is used.

Each run also times `python -c "import gradio"` (Gradio's import is the floor of any start), and
the ratio of the two is printed. Prints figures only; nothing is asserted. Goals: under 3 s to the
first answered request or at most 1.3x Gradio's import, and under 400 MB idle.

    python bench/startup.py [--runs N] [--idle SECONDS] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

GOAL_FIRST_REQUEST_S = 3.0
GOAL_IDLE_RSS_MB = 400.0
# Gradio's own import is the floor of any start: the first answered request within this many times
# `python -c "import gradio"` timed in the same run.
GOAL_OVER_GRADIO = 1.3
GOALS_TEXT = (f"goal: under {GOAL_FIRST_REQUEST_S:g} s to first answered request (or at most {GOAL_OVER_GRADIO:g}x "
              f"`import gradio`), under {GOAL_IDLE_RSS_MB:g} MB idle")

# Heavy libraries with native code: if one of them is imported, its shared objects show up in the
# process's memory maps under site-packages/<name>/.
HEAVY_PACKAGES = ("torch", "tensorflow", "jaxlib", "onnxruntime", "transformers", "tokenizers",
                  "cv2", "scipy", "sklearn", "numba", "llvmlite", "librosa", "diffusers", "TTS")


# Exit codes of a Ctrl-C'd app: Python re-raises an unhandled KeyboardInterrupt as SIGINT (-2).
CLEAN_EXIT_CODES = {0, -signal.SIGINT, 128 + signal.SIGINT}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _process_tree(pid: int) -> list:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss_mb(pid: int) -> float:
    import psutil

    total = 0
    for p in _process_tree(pid):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / (1024 * 1024)


def heavy_loaded(pid: int) -> list[str]:
    """Heavy packages whose files are mapped into the app's processes (i.e. imported)."""
    import psutil

    found: set[str] = set()
    for p in _process_tree(pid):
        try:
            paths = [m.path for m in p.memory_maps(grouped=True)]
        except psutil.Error:
            continue
        for path in paths:
            for name in HEAVY_PACKAGES:
                if f"/site-packages/{name}/" in path or f"/site-packages/{name}.libs/" in path:
                    found.add(name)
    return sorted(found)


def _get_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


def _stop(proc: subprocess.Popen, timeout: float = 15.0) -> int:
    """Ctrl-C first (Gradio closes its server on KeyboardInterrupt), then SIGTERM, then SIGKILL."""
    import psutil

    children = []
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        pass
    for sig in (signal.SIGINT, signal.SIGTERM):
        if proc.poll() is not None:
            break
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for child in children:  # anything the app started and left behind
        try:
            child.kill()
        except psutil.Error:
            pass
    return proc.returncode


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def capabilities_endpoint(client) -> str:
    """The /capabilities endpoint name, or the one Gradio gave it when another event took that name."""
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    if "/capabilities" in named:
        return "/capabilities"
    renamed = sorted(n for n in named if n.startswith("/capabilities_"))
    if renamed:
        return renamed[0]
    raise RuntimeError(f"no /capabilities endpoint; the app offers {sorted(named)}")


def run_once(idle_seconds: float, timeout: float) -> dict:
    from gradio_client import Client

    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path = tmp / "app.log"
    env = {
        **os.environ,
        "DATA_DIR": str(tmp / "data"),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
    }
    result: dict = {"port": port}
    with open(log_path, "wb") as log:
        t0 = time.perf_counter()
        # SIGINT back to default in the child (a shell may have started us with it ignored),
        # so that Ctrl-C reaches Gradio's own shutdown.
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=_default_sigint if os.name == "posix" else None)
    try:
        deadline = t0 + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"app exited early (code {proc.returncode}):\n{log_path.read_text()[-3000:]}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"app did not answer in {timeout:g} s:\n{log_path.read_text()[-3000:]}")
            if _get_ok(url + "gradio_api/info"):
                break
            time.sleep(0.05)
        result["first_request_s"] = time.perf_counter() - t0

        # download_files=False: the report's tool entries carry a "path" key, which gradio_client
        # would otherwise take for files to download (and the app rightly refuses to serve them).
        client = Client(url, verbose=False, download_files=False)
        api_name = capabilities_endpoint(client)
        caps = client.predict(api_name=api_name)
        result["first_capabilities_s"] = time.perf_counter() - t0

        time.sleep(idle_seconds)
        result["idle_rss_mb"] = tree_rss_mb(proc.pid)
        result["processes"] = len(_process_tree(proc.pid))
        result["heavy_loaded_at_idle"] = heavy_loaded(proc.pid)
        device = caps.get("device", {}) if isinstance(caps, dict) else {}
        result["torch"] = device.get("torch")
        result["device"] = device.get("device")
        result["capabilities_api_name"] = api_name
    finally:
        result["exit_code"] = _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def gradio_import_s() -> float:
    """Wall time of `python -c "import gradio"` in a fresh interpreter (the same Python as the app)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gradio"], check=True, cwd=ROOT, capture_output=True)
    return time.perf_counter() - t0


def summarise(runs: list[dict]) -> dict:
    median = {k: statistics.median(r[k] for r in runs)
              for k in ("first_request_s", "first_capabilities_s", "idle_rss_mb", "gradio_import_s")}
    median["over_gradio"] = median["first_request_s"] / median["gradio_import_s"]
    return {
        "median": median,
        "meets_goals": {
            "first_request": median["first_request_s"] < GOAL_FIRST_REQUEST_S,
            "over_gradio": median["over_gradio"] <= GOAL_OVER_GRADIO,
            "idle_rss": median["idle_rss_mb"] < GOAL_IDLE_RSS_MB,
        },
    }


def _ok(flag: bool) -> str:
    return "ok" if flag else "MISSED"


def report_text(runs: list[dict], summary: dict, env: dict) -> str:
    installed = env["heavy_installed"]
    lines = [
        "Digital Clone Studio start-up benchmark",
        f"python {env['python']} on {env['platform']}, {env['cpus']} CPUs, idle wait {env['idle_seconds']:g} s",
        "",
        f"{'run':>4}  {'first request':>13}  {'/capabilities':>13}  {'idle RSS':>10}  heavy libs loaded at idle",
    ]
    for i, r in enumerate(runs, 1):
        heavy = ", ".join(r["heavy_loaded_at_idle"]) or "none"
        lines.append(f"{i:>4}  {r['first_request_s']:>11.2f} s  {r['first_capabilities_s']:>11.2f} s  "
                     f"{r['idle_rss_mb']:>7.0f} MB  {heavy}")
    m, ok = summary["median"], summary["meets_goals"]
    lines += [
        f"{'med.':>4}  {m['first_request_s']:>11.2f} s  {m['first_capabilities_s']:>11.2f} s  "
        f"{m['idle_rss_mb']:>7.0f} MB",
        "",
        GOALS_TEXT,
        f"first answered request: {m['first_request_s']:.2f} s ({_ok(ok['first_request'])}); "
        f"idle memory: {m['idle_rss_mb']:.0f} MB ({_ok(ok['idle_rss'])})",
        f"`import gradio` alone: {m['gradio_import_s']:.2f} s; first request / import gradio = "
        f"{m['over_gradio']:.2f}x (goal at most {GOAL_OVER_GRADIO:g}x: {_ok(ok['over_gradio'])})",
        f"torch in /capabilities: {runs[0]['torch']!r} (device {runs[0]['device']!r}); "
        f"heavy libs installed here: {', '.join(installed) or 'none'}",
    ]
    names = sorted({r["capabilities_api_name"] for r in runs})
    if names != ["/capabilities"]:
        lines.append(f"WARNING: /capabilities is not offered under that name; the app serves it as {', '.join(names)}")
    unclean = sorted({r["exit_code"] for r in runs} - CLEAN_EXIT_CODES)
    if unclean:
        lines.append(f"note: the app did not stop on Ctrl-C; exit codes {unclean}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="how many cold starts (default 3)")
    p.add_argument("--idle", type=float, default=3.0, help="seconds idle before reading memory (default 3)")
    p.add_argument("--timeout", type=float, default=120.0, help="give up on a start after this many seconds")
    p.add_argument("--json", action="store_true", help="print JSON instead of the text block")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")

    import gradio_client  # noqa: F401  (imported here so its import time is not counted)

    env = {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpus": os.cpu_count(),
        "idle_seconds": args.idle,
        "heavy_installed": [n for n in HEAVY_PACKAGES if importlib.util.find_spec(n) is not None],
    }
    runs = []
    for i in range(args.runs):
        if not args.json:
            print(f"run {i + 1}/{args.runs} ...", file=sys.stderr, flush=True)
        run = run_once(args.idle, args.timeout)
        run["gradio_import_s"] = gradio_import_s()  # interleaved with the starts: the same host load
        runs.append(run)
    summary = summarise(runs)

    if args.json:
        print(json.dumps({"environment": env, "runs": runs, **summary,
                          "goals": {"first_request_s": GOAL_FIRST_REQUEST_S, "idle_rss_mb": GOAL_IDLE_RSS_MB,
                                    "over_gradio": GOAL_OVER_GRADIO,
                                    "text": GOALS_TEXT}}, indent=2))
    else:
        print(report_text(runs, summary, env))
    return 0


if __name__ == "__main__":
    sys.exit(main())
