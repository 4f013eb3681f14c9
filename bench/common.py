"""What the benchmarks share: real speech of a given length from the shared samples."""

from __future__ import annotations

from pathlib import Path


def speech(samples: Path, seconds: float):  # noqa: ANN201
    """`seconds` of real speech: LibriSpeech utterances joined end to end, as one mono Audio."""
    import numpy as np

    from engines.audio import Audio

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
