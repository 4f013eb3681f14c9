"""Scale benchmark: jobs on a local Ray cluster (EXECUTOR=ray) against the local executor.

Starts a Ray head (scheduling nothing) and one worker node on 127.0.0.1, with Ray's session files
under the work folder (default data/bench-scale, removed at the end), and runs the studio's services
in this process as the web process would. For 1 and then 2 job slots on the worker node (a job's task
asks for one CPU; the node gets two more for the Piper and Whisper warm actors), it queues `--jobs`
short speech jobs at once (one sentence in the default voice, from as many threads) and prints the
jobs per minute. Then, with one slot, it times one job at a time through Ray and through the local
executor, alternating (A/B, `--repeats` each, medians): a speech job, and an empty job (the executor's
own cost: recording, pickling, the task, progress, storing).

Run it where the network has only loopback (Ray advertises the machine's outside address otherwise):
`make bench` does, through `unshare -n`. Prints figures; asserts nothing.

    python bench/scale.py [--jobs 20] [--repeats 7] [--work-dir data/bench-scale]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
RAY = Path(sys.executable).parent / "ray"
TEXT = "The keeper lit the lamp at dusk, number {n}."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A head (0 CPUs) and a worker node with `cpus` CPUs, each `ray start --block` in its own group."""

    def __init__(self, base: Path, cpus: int) -> None:
        self.address = f"127.0.0.1:{free_port()}"
        base.mkdir(parents=True, exist_ok=True)
        common = ["--node-ip-address=127.0.0.1", "--disable-usage-stats"]
        head = ["--head", f"--port={self.address.split(':')[1]}", "--num-cpus=0", "--include-dashboard=false",
                f"--temp-dir={base / 'r'}", *common]
        self.procs = [self._start(head, base / "head.log")]
        time.sleep(2)
        self.procs.append(self._start([f"--address={self.address}", f"--num-cpus={cpus}", *common], base / "node.log"))

    @staticmethod
    def _start(args: list[str], log: Path) -> subprocess.Popen:
        with open(log, "wb") as out:
            return subprocess.Popen([str(RAY), "start", "--block", *args], stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    def wait(self, cpus: int, timeout: float = 60) -> None:
        import ray

        deadline = time.monotonic() + timeout
        while ray.cluster_resources().get("CPU", 0) < cpus:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker node did not join in {timeout} s")
            time.sleep(0.3)

    def stop(self) -> None:
        for p in reversed(self.procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


def speak(services, n: int) -> float:
    t0 = time.perf_counter()
    services.voices.speak(TEXT.format(n=n), voice="default")
    return time.perf_counter() - t0


def empty(services) -> float:
    from storage.jobs import JobResult

    t0 = time.perf_counter()
    services.jobs.run(kind="bench", params={}, work=lambda ctx: JobResult(backend="none"))
    return time.perf_counter() - t0


def throughput(services, jobs: int) -> tuple[float, int]:
    """(jobs per minute, failures) of `jobs` speech jobs queued at once."""
    failures = []

    def one(n: int) -> None:
        try:
            speak(services, n)
        except Exception as e:  # counted and printed, the bench goes on
            failures.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=one, args=(n,)) for n in range(jobs)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    for f in failures[:3]:
        print("  failed:", f)
    return 60 * (jobs - len(failures)) / wall, len(failures)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--work-dir", type=Path, default=ROOT / "data" / "bench-scale")
    args = ap.parse_args()
    if [name for _, name in socket.if_nameindex()] != ["lo"]:
        sys.exit("run this where the network has only loopback: "
                 "unshare -n sh -c 'ip link set lo up && python bench/scale.py' (make bench does)")
    import ray

    from engines.registry import MODELS
    from services import build_services
    from settings import Settings

    base = args.work_dir.resolve()
    shutil.rmtree(base, ignore_errors=True)
    settings = Settings(data_dir=base / "data", models_dir=ROOT / "models", max_jobs_per_user=0)
    local = build_services(settings)
    print(f"{args.jobs} short speech jobs queued at once (one sentence, default voice), {os.cpu_count()} cores; "
          "the machine is shared, so figures are noisy")
    try:
        for slots in (1, 2):
            cluster = Cluster(base / f"ray{slots}", slots + 2)  # + the two warm actors' CPUs
            try:
                svc = build_services(replace(settings, executor="ray", ray_address=cluster.address), recover=False)
                svc.jobs.executor.connect()
                cluster.wait(slots + 2)
                for n in range(2):  # the warm actors load, the worker processes start
                    speak(svc, n)
                per_min, failed = throughput(svc, args.jobs)
                print(f"ray, {slots} worker process{'es' if slots > 1 else ''}: {per_min:.1f} jobs/min"
                      + (f" ({failed} failed)" if failed else ""))
                if slots == 1:
                    ray_placement = MODELS.placement
                    times: dict[str, list[float]] = {k: [] for k in ("ray speak", "local speak", "ray empty",
                                                                     "local empty")}
                    MODELS.placement = None
                    speak(local, 0)  # the local models load once, before timing
                    for i in range(args.repeats):
                        for name in ("ray", "local") if i % 2 == 0 else ("local", "ray"):
                            MODELS.placement = ray_placement if name == "ray" else None
                            s = svc if name == "ray" else local
                            times[f"{name} speak"].append(speak(s, i))
                            times[f"{name} empty"].append(empty(s))
                    med = {k: statistics.median(v) for k, v in times.items()}
                    MODELS.placement = None
                    per_local_min, _ = throughput(local, args.jobs)
                    print(f"local executor (threads of this process): {per_local_min:.1f} jobs/min")
                    print(f"one job at a time, median of {args.repeats}, A/B alternating:")
                    for kind in ("speak", "empty"):
                        print(f"  {kind:6s} ray {med['ray ' + kind]:.3f} s, local {med['local ' + kind]:.3f} s: "
                              f"overhead {med['ray ' + kind] - med['local ' + kind]:+.3f} s per job")
            finally:
                ray.shutdown()
                MODELS.placement = None
                cluster.stop()
    finally:
        local.library.engine.dispose()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
