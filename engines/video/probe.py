"""Reading media back: what an MP4 holds (ffprobe plus the file's top-level atoms) and decoded frames
through an ffmpeg pipe."""

from __future__ import annotations

import json
import logging
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Iterator

import numpy as np

from core.errors import BackendUnavailable, EngineError, InputError

log = logging.getLogger(__name__)


def ffprobe_binary() -> str:
    path = shutil.which("ffprobe")
    if not path:
        raise BackendUnavailable("ffprobe is not installed (Debian package ffmpeg): videos cannot be checked")
    return path


def top_level_atoms(path: str | Path) -> list[str]:
    """The MP4's top-level box types in file order (e.g. ['ftyp', 'moov', 'free', 'mdat'])."""
    kinds: list[str] = []
    with open(path, "rb") as f:
        f.seek(0, 2)
        end = f.tell()
        pos = 0
        while pos + 8 <= end:
            f.seek(pos)
            size, kind = struct.unpack(">I4s", f.read(8))
            if size == 1:  # 64-bit size follows the type
                size = struct.unpack(">Q", f.read(8))[0]
            elif size == 0:  # box runs to the end of the file
                size = end - pos
            kinds.append(kind.decode("latin-1"))
            if size < 8:
                break
            pos += size
    return kinds


def _float(value) -> float | None:  # noqa: ANN001
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def probe_video(path: str | Path, count_frames: bool = False) -> dict:
    """What the video file holds, read with ffprobe:

    video_codec, pix_fmt, width, height, fps, video_duration_s, frames (from the container index, or
    decoded and counted when `count_frames`), audio_codec, audio_sample_rate, audio_channels,
    audio_duration_s (None without audio), duration_s (container), chapters [{start_s, end_s, title}],
    atoms (top-level MP4 boxes) and faststart (True when 'moov' comes before 'mdat')."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"the video file {path.name!r} does not exist")
    cmd = [ffprobe_binary(), "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
           "-show_chapters"]
    if count_frames:
        cmd += ["-count_frames"]
    proc = subprocess.run(cmd + [str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise InputError(f"cannot read {path.name!r} as a video: {proc.stderr.strip()[:300]}")
    data = json.loads(proc.stdout or "{}")
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    out: dict = {"path": str(path), "duration_s": _float(data.get("format", {}).get("duration")),
                 "video_codec": None, "pix_fmt": None, "width": None, "height": None, "fps": None,
                 "video_duration_s": None, "frames": None, "audio_codec": None, "audio_sample_rate": None,
                 "audio_channels": None, "audio_duration_s": None}
    if video is not None:
        num, _, den = str(video.get("avg_frame_rate") or video.get("r_frame_rate") or "0/1").partition("/")
        fps = float(num) / float(den or 1) if float(den or 1) else None
        frames = video.get("nb_read_frames") if count_frames else video.get("nb_frames")
        out.update(video_codec=video.get("codec_name"), pix_fmt=video.get("pix_fmt"), width=video.get("width"),
                   height=video.get("height"), fps=fps, video_duration_s=_float(video.get("duration")),
                   frames=int(frames) if frames not in (None, "N/A") else None)
    if audio is not None:
        out.update(audio_codec=audio.get("codec_name"), audio_sample_rate=int(audio.get("sample_rate") or 0),
                   audio_channels=audio.get("channels"), audio_duration_s=_float(audio.get("duration")))
    out["chapters"] = [{"start_s": float(c["start_time"]), "end_s": float(c["end_time"]),
                        "title": c.get("tags", {}).get("title", "")} for c in data.get("chapters", [])]
    atoms = top_level_atoms(path)
    out["atoms"] = atoms
    out["faststart"] = "moov" in atoms and "mdat" in atoms and atoms.index("moov") < atoms.index("mdat")
    return out


def video_size(path: str | Path) -> tuple[int, int, float, float | None]:
    """(width_px, height_px, fps, duration_s) of a video's first video stream."""
    info = probe_video(path)
    if info["video_codec"] is None:
        raise InputError(f"{Path(path).name!r} has no video stream")
    duration = info["video_duration_s"] or info["duration_s"]
    return int(info["width"]), int(info["height"]), float(info["fps"] or 0.0), duration


def read_frames(path: str | Path, width: int | None = None, height: int | None = None,
                fps: float | None = None) -> Iterator[np.ndarray]:
    """Decoded RGB uint8 frames, one at a time, through an ffmpeg pipe; scaled to width x height and
    resampled to `fps` by ffmpeg when given. The ffmpeg process is ended when the iterator is closed."""
    from engines.video.encode import ffmpeg_binary

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
