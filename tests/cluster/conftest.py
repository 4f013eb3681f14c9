"""A real local Ray cluster for the tests marked `ray`: a head and one extra worker node, each a
`ray start --block` process in its own process group, on 127.0.0.1, with Ray's session files and
logs under the test's temporary folder. The head schedules no work (0 CPUs, as on a real cluster), so
every job and warm model runs on the worker node, which a test can kill and replace.

Ray advertises the machine's outside address unless the network has nothing but loopback, so these
tests run only in a private network namespace: `make test-cluster` runs them there
(`unshare -n`, root). Elsewhere they are skipped, saying so."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port

RAY = Path(sys.executable).parent / "ray"
# Logical CPUs of a worker node: two warm models (one CPU each) and two jobs at a time.
NODE_CPUS = 4


def loopback_only() -> bool:
    """The network namespace has no interface but `lo`."""
    import socket

    try:
        return [name for _, name in socket.if_nameindex()] == ["lo"]
    except OSError:
        return False


def pytest_collection_modifyitems(config, items):
    reason = None
    if importlib.util.find_spec("ray") is None:
        reason = "ray is not installed (pip install -r requirements.txt)"
    elif not loopback_only():
        reason = "needs a private network namespace (only loopback): run `make test-cluster`"
    for item in items:
        if "ray_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ray)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


class Node:
    """One `ray start --block` process (and the Ray processes it starts), in a process group of its own."""

    def __init__(self, args: list[str], log: Path) -> None:
        # No token authentication (the cluster is on loopback in a private namespace): a head started while
        # ~/.ray/auth_token exists (a local ray.init() that starts its own cluster writes one) would demand a
        # token that the tests' clients, and the app's, do not send.
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([str(RAY), "start", "--block", *args], stdout=out, stderr=subprocess.STDOUT,
                                         env=env, start_new_session=True)

    def kill(self) -> None:
        """Kill the node: every process of its group (the raylet, its workers), at once."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        self.kill()


def _wait_nodes(address: str, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    probe = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
             "print(sum(1 for x in ray.nodes() if x['Alive']))")
    while time.monotonic() < deadline:
        r = subprocess.run([sys.executable, "-c", probe, address], capture_output=True, text=True,
                           env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
        if r.returncode == 0 and r.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the Ray cluster at {address} did not show {n} nodes in {timeout} s: {r.stderr[-2000:]}")


class Cluster:
    def __init__(self, base: Path) -> None:
        self.base = base
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        # Ray's session folder (sockets, logs): short, because socket paths are limited to 107 bytes.
        self.temp = base / "r"
        self.head = Node(["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={self.temp}",
                          "--node-ip-address=127.0.0.1", "--num-cpus=0", "--disable-usage-stats"], base / "head.log")
        self.nodes = [self.head]
        try:
            _wait_nodes(self.address, 1)
            self.worker = self.add_node("worker")
        except BaseException:
            self.stop()
            raise

    def add_node(self, name: str) -> Node:
        """Start a worker node and wait until the cluster counts it."""
        alive = sum(1 for n in self.nodes if n.proc.poll() is None)
        node = Node([f"--address={self.address}", "--node-ip-address=127.0.0.1", f"--num-cpus={NODE_CPUS}",
                     "--disable-usage-stats"], self.base / f"{name}.log")
        self.nodes.append(node)
        _wait_nodes(self.address, alive + 1)
        return node

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("ray"))
    yield cluster
    cluster.stop()
