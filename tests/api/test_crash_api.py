"""A crash leaves nothing behind: the app is killed (kill -9) while a scene video is encoding, started
again on the same data folder, and neither the system temp folder nor the data folder holds anything
that was not there before the job."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import soundfile as sf
from gradio_client import Client, handle_file

from core.errors import INTERRUPTED
from tests.conftest import VOICES, AppProcess, free_port


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def long_speech(path: Path, seconds: float = 24.0) -> Path:
    """Real speech, clips of one speaker one after the other, `seconds` long."""
    parts, rate, total = [], None, 0
    for clip in sorted((VOICES / "librispeech-1688").glob("*.flac")) * 8:
        y, rate = sf.read(str(clip), dtype="float32")
        parts.append(y)
        total += len(y)
        if total >= seconds * rate:
            break
    sf.write(path, np.concatenate(parts)[: int(seconds * rate)], rate)
    return path


def encoding(data: Path) -> bool:
    """The job's encoder is running: ffmpeg is writing the MP4 in the job's folder."""
    return any(p.stat().st_size > 0 for p in (data / "scratch").glob("job*/scene.mp4"))


@pytest.mark.slow
def test_a_scene_video_killed_mid_encode_leaves_nothing_anywhere(tmp_path):
    system_tmp, data = tmp_path / "system-tmp", tmp_path / "data"
    system_tmp.mkdir()
    env = {"TMPDIR": str(system_tmp)}  # the app's system temp folder: this test's own, so its listing is exact
    audio = long_speech(tmp_path / "narration.flac")

    app = AppProcess(data, free_port(), env=env)
    children: list[psutil.Process] = []
    try:
        client = Client(app.url, verbose=False, download_files=str(tmp_path / "downloads"))
        project = client.predict(name="Crash", api_name="/create_project")
        # The soundtrack is stored (and in Gradio's upload folder) before the job, as it would be after it.
        client.predict(project_id=project["id"], file=handle_file(str(audio)), api_name="/upload_media")
        # A sentence in the Piper voice: onnxruntime keeps nothing in the system temp folder either.
        client.predict(text="Nothing is left behind.", project_id=project["id"], api_name="/speak")
        before = listing(data), listing(system_tmp)
        job = client.submit(audio=handle_file(str(audio)), template="plain_dark", size="640x360", fps=30,
                            project_id=project["id"], api_name="/scene_video")
        deadline = time.monotonic() + 120
        while not encoding(data):
            assert time.monotonic() < deadline and not job.done(), "the scene video never started encoding"
            time.sleep(0.02)
        children = psutil.Process(app.proc.pid).children(recursive=True)
        assert any("ffmpeg" in c.name() for c in children)
        os.kill(app.proc.pid, signal.SIGKILL)
        app.proc.wait()
    finally:
        app.stop()
    # ffmpeg, orphaned, sees the end of its input and exits; the test waits for it before looking.
    _, alive = psutil.wait_procs(children, timeout=60)
    for p in alive:
        p.kill()
    assert not alive, "ffmpeg outlived the app by a minute"
    # The killed job's files are in its folder under DATA_DIR/scratch, none in the system temp folder.
    assert listing(system_tmp) == before[1]
    assert any((data / "scratch").glob("job*/tmp/video-encode-*/audio.wav"))

    again = AppProcess(data, free_port(), env=env)
    try:
        client = Client(again.url, verbose=False, download_files=str(tmp_path / "downloads"))
        gens = client.predict(project_id=project["id"], api_name="/list_generations")
        assert [(g["kind"], g["status"], g["error"]) for g in gens] == [("scene_video", "failed", INTERRUPTED),
                                                                       ("speak", "succeeded", "")]
        after = listing(data), listing(system_tmp)
    finally:
        again.stop()
    assert after[1] == before[1] == set()
    assert after[0] == before[0], (f"left in the data folder: {sorted(after[0] - before[0])}; "
                                   f"gone: {sorted(before[0] - after[0])}")

