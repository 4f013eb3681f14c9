"""Frames and audio into an MP4: H.264 yuv420p + AAC, faststart, frames streamed to ffmpeg's stdin."""

from __future__ import annotations

import logging
import queue
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from engines.audio import Audio
from engines.errors import BackendUnavailable, EngineError

log = logging.getLogger(__name__)

# x264 settings: "veryfast" keeps encoding cheap on 2 cores; CRF 20 is visually clean for faces.
PRESET = "veryfast"
CRF = 20
AUDIO_BITRATE = "128k"
# AAC sample rates ffmpeg's encoder takes; other rates are resampled to 48 kHz.
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)


def ffmpeg_binary() -> str:
    path = shutil.which("ffmpeg")
    if not path:
        raise BackendUnavailable("ffmpeg is not installed (Debian package ffmpeg): videos cannot be encoded")
    return path


def encode_command(path: Path, width: int, height: int, fps: int, audio_path: Path | None,
                   sample_rate: int | None = None) -> list[str]:
    cmd = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", str(fps), "-i", "pipe:0"]
    if audio_path is not None:
        cmd += ["-i", str(audio_path), "-map", "0:v:0", "-map", "1:a:0"]
    cmd += ["-c:v", "libx264", "-preset", PRESET, "-crf", str(CRF), "-pix_fmt", "yuv420p"]
    if audio_path is not None:
        cmd += ["-c:a", "aac", "-b:a", AUDIO_BITRATE]
        if sample_rate not in AAC_RATES:
            cmd += ["-ar", "48000"]
    cmd += ["-movflags", "+faststart", str(path)]
    return cmd


# Frames waiting for ffmpeg: a few, so drawing the next frame overlaps with encoding the last ones.
QUEUE_FRAMES = 4


class VideoWriter:
    """`with VideoWriter(path, w, h, fps, audio) as out: out.write(frame)`; on an exception the
    partial file is removed. Frames are copied into a short queue and fed to ffmpeg by a thread,
    so the caller draws the next frame while ffmpeg encodes (pipe writes release the GIL)."""

    def __init__(self, path: Path, width: int, height: int, fps: int, audio: Audio | None) -> None:
        self.path = Path(path)
        self.width, self.height, self.fps = width, height, fps
        self.audio = audio
        self.frames = 0
        self._tmp = Path(tempfile.mkdtemp(prefix="video_encode_"))
        self._proc: subprocess.Popen | None = None
        self._stderr = None
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
        self._feeder: threading.Thread | None = None
        self._feed_error: BaseException | None = None

    def __enter__(self) -> "VideoWriter":
        audio_path = None
        rate = None
        if self.audio is not None:
            audio_path = self._tmp / "audio.wav"
            self.audio.write(audio_path, subtype="PCM_16")
            rate = self.audio.sample_rate
        self.path.parent.mkdir(parents=True, exist_ok=True)
        cmd = encode_command(self.path, self.width, self.height, self.fps, audio_path, rate)
        self._stderr = open(self._tmp / "ffmpeg.log", "w+b")
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr)
        self._feeder = threading.Thread(target=self._feed, name="video-ffmpeg-feed", daemon=True)
        self._feeder.start()
        return self

    def _feed(self) -> None:
        stdin = self._proc.stdin
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            if self._feed_error is not None:
                continue  # drain: the writer side sees the error on its next call
            try:
                stdin.write(memoryview(frame).cast("B"))
            except (BrokenPipeError, OSError, ValueError) as e:
                self._feed_error = e

    def write(self, frame: np.ndarray) -> None:
        """Queue one RGB uint8 frame (copied, so the caller may reuse its buffer)."""
        assert self._proc is not None
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be ({self.height}, {self.width}, 3) uint8, got {frame.shape} {frame.dtype}")
        if self._feed_error is not None:
            self._fail("ffmpeg stopped while receiving frames")
        self._queue.put(np.array(frame, copy=True, order="C"))
        self.frames += 1

    def _stop_feeder(self) -> None:
        if self._feeder is not None:
            self._queue.put(None)
            self._feeder.join()
            self._feeder = None

    def _log(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-2000:]

    def _fail(self, what: str) -> None:
        detail = self._log()
        self.abort()
        raise EngineError(f"video encoding failed: {what}. {detail}".strip())

    def close(self) -> None:
        proc = self._proc
        if proc is None:
            return
        self._stop_feeder()
        if proc.stdin:
            try:
                proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
        rc = proc.wait()
        if rc != 0 or self._feed_error is not None:
            self._fail(f"ffmpeg exited with code {rc}")
        self._cleanup()

    def abort(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()  # our own child, by its handle
            proc.wait()
        self._stop_feeder()
        if proc is not None and proc.stdin:
            try:
                proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
        self._cleanup()
        self.path.unlink(missing_ok=True)

    def _cleanup(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._proc = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        if exc_type is not None:
            self.abort()
        else:
            self.close()
