"""What the browser tests share: Debian's Chromium, its flags, and pressing Stop on a running job."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


def stop_once_running(page, stop_selector: str, jobs: Callable[[], list[dict]]) -> dict:
    """Wait until the job listed by `jobs` runs, press Stop, and return it once it no longer runs
    (or after a minute)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not [g for g in jobs() if g["status"] == "running"]:
        time.sleep(0.3)
    page.click(stop_selector)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and jobs()[0]["status"] == "running":
        time.sleep(0.3)
    (job,) = jobs()
    return job
