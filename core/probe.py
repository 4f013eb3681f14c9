"""The ffmpeg tools, and what a media file holds as ffprobe reads it (plus an MP4's top-level atoms).

One reader for intake, which tells audio from video and checks uploads against limits, and for the
engines, which check what they read and what they wrote."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

from core.errors import BackendUnavailable, InputError


class NotMedia(InputError):
    """ffprobe cannot read the file: it is no audio or video (or too damaged to tell)."""


# How long ffprobe may take to read a file's headers, in seconds (counting frames has no limit).
PROBE_TIMEOUT_S = 60


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise BackendUnavailable(f"{name} is not installed (Debian package ffmpeg): audio and video cannot be "
                                 "read or written")
    return path


def ffmpeg_binary() -> str:
    return _tool("ffmpeg")


def ffprobe_binary() -> str:
    return _tool("ffprobe")


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


def _float(value) -> float | None:
    """A duration or rate as ffprobe writes it; None for missing, "N/A", NaN or negative values."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if f == f and f >= 0 else None


def _rate(text: str | None) -> float | None:
    """Frames per second from ffprobe's "30000/1001"; None for "0/0" or nonsense."""
    num, _, den = str(text or "").partition("/")
    n, d = _float(num), _float(den or "1")
    return n / d if n is not None and d else None


def probe_media(path: str | Path, count_frames: bool = False) -> dict:
    """What the audio or video file holds, read with ffprobe:

    format_name (ffprobe's, e.g. "mov,mp4,m4a,3gp,3g2,mj2"), duration_s (container); video_codec, pix_fmt,
    width, height, fps, video_duration_s, frames (from the container index, or decoded and counted when
    `count_frames`) of the first video stream that is not cover art; audio_codec, audio_sample_rate,
    audio_channels, audio_duration_s of the first audio stream (None where there is no such stream);
    chapters [{start_s, end_s, title}]; for MP4/MOV, atoms (top-level boxes) and faststart (True when
    'moov' comes before 'mdat'). NotMedia naming the file when ffprobe cannot read it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"the file {path.name!r} does not exist")
    cmd = [ffprobe_binary(), "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
           "-show_chapters"]
    if count_frames:
        cmd += ["-count_frames"]
    try:
        proc = subprocess.run(cmd + [str(path)], capture_output=True, text=True, errors="replace",
                              timeout=None if count_frames else PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise InputError(f"reading {path.name!r} took longer than {PROBE_TIMEOUT_S} s; it may be damaged") from None
    try:
        data = json.loads(proc.stdout or "{}") if proc.returncode == 0 else None
    except json.JSONDecodeError:
        data = None
    if data is None:
        raise NotMedia(f"cannot read {path.name!r} as audio or video: {proc.stderr.strip()[:300]}")
    fmt = data.get("format", {})
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not (s.get("disposition") or {}).get("attached_pic")), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    out: dict = {"path": str(path), "format_name": fmt.get("format_name", ""),
                 "duration_s": _float(fmt.get("duration")), "video_codec": None, "pix_fmt": None, "width": None,
                 "height": None, "fps": None, "video_duration_s": None, "frames": None, "audio_codec": None,
                 "audio_sample_rate": None, "audio_channels": None, "audio_duration_s": None}
    if video is not None:
        frames = video.get("nb_read_frames") if count_frames else video.get("nb_frames")
        out.update(video_codec=video.get("codec_name"), pix_fmt=video.get("pix_fmt"), width=video.get("width"),
                   height=video.get("height"), fps=_rate(video.get("avg_frame_rate") or video.get("r_frame_rate")),
                   video_duration_s=_float(video.get("duration")),
                   frames=int(frames) if frames not in (None, "N/A") else None)
    if audio is not None:
        out.update(audio_codec=audio.get("codec_name"), audio_sample_rate=int(audio.get("sample_rate") or 0),
                   audio_channels=audio.get("channels"), audio_duration_s=_float(audio.get("duration")))
    out["chapters"] = [{"start_s": float(c["start_time"]), "end_s": float(c["end_time"]),
                        "title": c.get("tags", {}).get("title", "")} for c in data.get("chapters", [])]
    is_mp4 = any(f in out["format_name"].split(",") for f in ("mov", "mp4"))
    atoms = top_level_atoms(path) if is_mp4 else []
    out["atoms"] = atoms
    out["faststart"] = "moov" in atoms and "mdat" in atoms and atoms.index("moov") < atoms.index("mdat")
    return out


def video_size(path: str | Path) -> tuple[int, int, float, float | None]:
    """(width_px, height_px, fps, duration_s) of a video's first video stream."""
    info = probe_media(path)
    if info["video_codec"] is None:
        raise InputError(f"{Path(path).name!r} has no video stream")
    duration = info["video_duration_s"] or info["duration_s"]
    return int(info["width"]), int(info["height"]), float(info["fps"] or 0.0), duration
