"""Soak: many generations and downloads through the client API, and the disk use of the data folder
comes back to the same figure once the cache has expired; nothing piles up in Gradio's cache.

Each generation is a short sentence in the embedded voice with speech recognition turned off (the
property is about files, not speech), so hundreds fit in a CI run. The media store keeps what the
generations' rows refer to (each speech is its own file: its watermark names its generation), and
nothing else; everything else in the data folder comes back to where it was."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
import soundfile as sf
from gradio_client import Client

from tests.conftest import AppProcess, free_port

# Generations (each one downloaded) after the warm-up.
SOAK = 200
WARM_UP = 10
# Files in Gradio's cache expire this many seconds after they were made.
MAX_AGE_S = 3


def usage(data: Path) -> dict[str, int]:
    """Bytes of the data folder's files by top-level entry, the database left out (it grows by rows)."""
    out: dict[str, int] = {}
    for p in data.rglob("*"):
        top = p.relative_to(data).parts[0]
        if p.is_file() and not top.startswith("studio.db"):
            out[top] = out.get(top, 0) + p.stat().st_size
    return out


def expired(cache: Path, timeout_s: float = 60) -> None:
    """Wait until the cache holds nothing (every entry is older than MAX_AGE_S by then)."""
    deadline = time.monotonic() + timeout_s
    while any(cache.iterdir()):
        assert time.monotonic() < deadline, f"still in the cache: {sorted(p.name for p in cache.iterdir())[:5]}"
        time.sleep(0.2)


@pytest.mark.slow
def test_disk_use_is_flat_after_many_generations_and_downloads(tmp_path):
    data, system_tmp = tmp_path / "data", tmp_path / "system-tmp"
    system_tmp.mkdir()
    app = AppProcess(data, free_port(), env={"CACHE_MAX_AGE_S": str(MAX_AGE_S), "TMPDIR": str(system_tmp),
                                             "ASR_MODEL": str(tmp_path / "no-recogniser")})
    cache, held = data / "cache", []
    try:
        client = Client(app.url, verbose=False, download_files=str(tmp_path / "downloads"))
        project = client.predict(name="Soak", api_name="/create_project")

        def generate(i: int) -> None:
            path = client.predict(text="A short sentence.", voice="en-us", backend="embedded",
                                  project_id=project["id"], api_name="/speak")
            assert sf.info(path).duration > 0.3, i
            Path(path).unlink()  # the client's copy: only the server's disk is measured
            held.append(sum(len(files) for _, _, files in os.walk(cache)))  # the app may be removing some

        for i in range(WARM_UP):
            generate(i)
        # The cache is served from the data folder; the rest of the data folder is not.
        raw = Client(app.url, verbose=False, download_files=False)
        copy = raw.predict(text="A short sentence.", voice="en-us", backend="embedded", project_id=project["id"],
                           api_name="/speak")
        stored = next((data / "media").rglob("*.wav"))
        assert Path(copy["path"]).is_relative_to(cache.resolve()) and httpx.get(copy["url"]).status_code == 200
        for private in (stored, data / "studio.db", data / "studio.db-wal"):
            assert httpx.get(f"{app.url}gradio_api/file={private.resolve()}").status_code in (403, 404), private
        expired(cache)
        before = usage(data)
        for i in range(SOAK):
            generate(WARM_UP + i)
        expired(cache)
        after = usage(data)
        gens = client.predict(project_id=project["id"], api_name="/list_generations")
        kept = {a["sha256"]: a["size_bytes"] for a in client.predict(project_id=project["id"],
                                                                      api_name="/list_assets")}
    finally:
        app.stop()
    assert len(gens) == WARM_UP + 1 + SOAK and {g["status"] for g in gens} == {"succeeded"}
    assert after.get("media") == sum(kept.values()), "the media store holds more than the rows refer to"
    assert after.get("media", 0) >= before.get("media", 0)
    rest = lambda u: {k: v for k, v in u.items() if k != "media"}  # noqa: E731
    assert rest(after) == rest(before), f"{before} -> {after}"
    # The copies were made in the data folder's cache (a handful at a time), nothing in the system temp folder.
    assert min(held) >= 1 and max(held) < SOAK
    assert not any((data / "scratch").iterdir()) and not any(system_tmp.iterdir())
