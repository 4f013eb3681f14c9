"""Audio as it crosses layer boundaries: mono or multichannel float32 samples plus their rate; and MP3
files, the one lossy format the app hands out."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import BackendUnavailable, InputError
from core.probe import ffmpeg_binary


@dataclass(frozen=True)
class Audio:
    # Shape (n,) for mono or (n, channels); float32 in [-1, 1].
    samples: np.ndarray
    # Samples per second.
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate)

    @property
    def channels(self) -> int:
        return 1 if self.samples.ndim == 1 else self.samples.shape[1]

    def mono(self) -> Audio:
        if self.samples.ndim == 1:
            return self
        return Audio(self.samples.mean(axis=1).astype(np.float32), self.sample_rate)

    def resampled(self, rate_hz: int) -> Audio:
        if rate_hz == self.sample_rate:
            return self
        from scipy.signal import resample_poly

        g = np.gcd(rate_hz, self.sample_rate)
        y = resample_poly(self.samples, rate_hz // g, self.sample_rate // g, axis=0)
        return Audio(y.astype(np.float32), rate_hz)

    @classmethod
    def silence(cls, seconds: float, sample_rate: int) -> Audio:
        return cls(np.zeros(int(round(seconds * sample_rate)), np.float32), sample_rate)

    @classmethod
    def concat(cls, parts: list[Audio]) -> Audio:
        if not parts:
            raise ValueError("nothing to join")
        rate = parts[0].sample_rate
        return cls(np.concatenate([p.resampled(rate).samples for p in parts]).astype(np.float32), rate)

    @classmethod
    def read(cls, path: str | Path) -> Audio:
        import soundfile as sf

        y, sr = sf.read(str(path), dtype="float32", always_2d=False)
        return cls(y, int(sr))

    def write(self, path: str | Path, subtype: str | None = None) -> Path:
        import soundfile as sf

        sf.write(str(path), self.samples, self.sample_rate, subtype=subtype)
        return Path(path)


def encode_mp3(src: str | Path, out_path: str | Path, bitrate_kbps: int) -> Path:
    """Any audio file ffmpeg reads, as an MP3 at `bitrate_kbps` kbit/s (constant bit rate) at `out_path`.
    An MP3 is copied as is rather than encoded twice. InputError naming the file when it cannot be decoded;
    BackendUnavailable when this ffmpeg has no MP3 encoder."""
    src, out_path = Path(src), Path(out_path)
    if not src.is_file():
        raise InputError(f"the audio file {src.name!r} does not exist")
    if src.suffix.lower() == ".mp3":
        shutil.copyfile(src, out_path)
        return out_path
    r = subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(src), "-vn",
                        "-c:a", "libmp3lame", "-b:a", f"{int(bitrate_kbps)}k", str(out_path)],
                       capture_output=True, text=True, errors="replace", timeout=300)
    if r.returncode != 0 or not out_path.exists():
        detail = r.stderr.strip()[-300:]
        if "libmp3lame" in detail:
            raise BackendUnavailable(f"this ffmpeg cannot encode MP3 (it lacks libmp3lame): {detail}")
        raise InputError(f"{src.name!r} could not be converted to MP3: {detail}")
    return out_path
