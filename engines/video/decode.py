"""Reading video back: decoded frames through an ffmpeg pipe."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from core.errors import EngineError
from core.probe import ffmpeg_binary, video_size


def read_frames(path: str | Path, width: int | None = None, height: int | None = None,
                fps: float | None = None) -> Iterator[np.ndarray]:
    """Decoded RGB uint8 frames, one at a time, through an ffmpeg pipe; scaled to width x height and
    resampled to `fps` by ffmpeg when given. The ffmpeg process is ended when the iterator is closed."""
    if width is None or height is None:
        w0, h0, _, _ = video_size(path)
        width, height = width or w0, height or h0
    filters = []
    if fps:
        filters.append(f"fps={fps}")
    filters.append(f"scale={int(width)}:{int(height)}:flags=area")
    cmd = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path), "-map", "0:v:0",
           "-vf", ",".join(filters), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    frame_bytes = int(width) * int(height) * 3
    try:
        while True:
            buf = proc.stdout.read(frame_bytes)
            if len(buf) < frame_bytes:
                break
            yield np.frombuffer(buf, np.uint8).reshape(int(height), int(width), 3)
        rc = proc.wait()
        if rc != 0:
            detail = proc.stderr.read().decode("utf-8", "replace")[-300:]
            raise EngineError(f"decoding {Path(path).name!r} failed: {detail}")
    finally:
        if proc.poll() is None:
            proc.kill()  # our own child, by its handle
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
