"""What the benchmarks share: real speech of a given length from the shared samples."""

from __future__ import annotations

from pathlib import Path


def speech(samples: Path, seconds: float):
    """`seconds` of real speech: LibriSpeech utterances joined end to end, as one mono Audio."""
    import numpy as np

    from core.audio import Audio

    parts, total = [], 0.0
    for f in sorted((samples / "voices").glob("*/*.flac")):
        a = Audio.read(f).mono()
        parts.append(a)
        total += a.duration_s
        if total >= seconds:
            break
    joined = Audio.concat(parts)
    n = int(round(seconds * joined.sample_rate))
    return Audio(np.ascontiguousarray(joined.samples[:n]), joined.sample_rate)


def encode_floor(video: Path, audio, fps: int, out: Path, profile: str = "motion") -> float:
    """Seconds to encode the frames of `video` again, all of them, with the app's VideoWriter (same x264
    settings, same audio): the floor a renderer is compared with. The frames are decoded beforehand to a
    raw YUV 4:2:0 file next to `out` and mapped into memory (pages loaded before timing), so the timed
    part is only piping them to ffmpeg and encoding."""
    import mmap
    import subprocess
    import time

    import numpy as np

    from core.probe import video_size
    from engines.video.encode import VideoWriter

    w, h, _, _ = video_size(video)
    raw = out.with_suffix(".yuv")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-f", "rawvideo", "-pix_fmt", "yuv420p",
                    str(raw)], check=True)
    size = w * h * 3 // 2
    try:
        with open(raw, "rb") as f, mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE,
                                             prot=mmap.PROT_READ) as mm:
            n = len(mm) // size
            frames = [np.frombuffer(mm, np.uint8, size, k * size).reshape(h * 3 // 2, w) for k in range(n)]
            t = time.perf_counter()
            with VideoWriter(out, w, h, fps, audio, profile=profile) as writer:
                for k in range(n):
                    writer.write_yuv(frames[k])
            seconds = time.perf_counter() - t
            del frames, writer  # the views into the mapping go before it is closed
    finally:
        raw.unlink(missing_ok=True)
    return seconds
