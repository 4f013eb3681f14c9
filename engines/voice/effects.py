"""Effects and enhancement with pedalboard, and loudness normalisation with pyloudnorm.

`EffectSettings` is what the UI exposes; styles supply their own defaults as data.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from core.audio import Audio

# Integrated loudness for speech outputs (LUFS) and the peak ceiling after normalising (dBFS).
SPEECH_LUFS = -16.0
PEAK_CEILING_DBFS = -1.0


@dataclass(frozen=True)
class EffectSettings:
    # Low shelf at 150 Hz, in dB (0 = off).
    bass_boost_db: float = 0.0
    # Pitch shift after synthesis, in semitones (0 = off); main pitch changes happen in the vocoder.
    pitch_shift_semitones: float = 0.0
    # {"threshold_db": -20, "ratio": 2} or None.
    compressor: dict | None = None
    # {"room_size": 0..1, "wet_level": 0..1, "width": 0..1} or None.
    reverb: dict | None = None
    # Tame harsh "s" sounds above 5 kHz.
    de_ess: bool = False
    # Integrated loudness target (LUFS); None leaves the level alone.
    loudness_lufs: float | None = SPEECH_LUFS

    @classmethod
    def from_dict(cls, d: dict | None, **overrides) -> EffectSettings:
        d = {**(d or {}), **{k: v for k, v in overrides.items() if v is not None}}
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


def apply(audio: Audio, fx: EffectSettings) -> Audio:
    """Run the chain: (de-ess) -> bass boost -> pitch shift -> compressor -> reverb -> loudness."""
    import pedalboard as pb

    y = audio.samples.astype(np.float32)
    sr = audio.sample_rate
    y2 = y.T if y.ndim == 2 else y[None, :]  # pedalboard wants (channels, samples)
    if fx.de_ess:
        y2 = _de_ess(y2, sr)
    chain = []
    if fx.bass_boost_db:
        chain.append(pb.LowShelfFilter(cutoff_frequency_hz=150.0, gain_db=float(fx.bass_boost_db), q=0.707))
    if fx.pitch_shift_semitones:
        chain.append(pb.PitchShift(semitones=float(fx.pitch_shift_semitones)))
    if fx.compressor:
        c = fx.compressor
        chain.append(pb.Compressor(threshold_db=float(c.get("threshold_db", -20)), ratio=float(c.get("ratio", 2)),
                                   attack_ms=float(c.get("attack_ms", 5)), release_ms=float(c.get("release_ms", 120))))
    if fx.reverb:
        r = fx.reverb
        if y2.shape[0] == 1 and r.get("width", 0) > 0:
            y2 = np.repeat(y2, 2, axis=0)  # a wide reverb needs two channels
        wet = float(r.get("wet_level", 0.2))
        chain.append(pb.Reverb(room_size=float(r.get("room_size", 0.5)), wet_level=wet, dry_level=1.0 - wet * 0.5,
                               width=float(r.get("width", 0.8))))
    if chain:
        y2 = pb.Pedalboard(chain)(y2, sr)
    out = Audio(np.ascontiguousarray((y2[0] if y2.shape[0] == 1 else y2.T).astype(np.float32)), sr)
    if fx.loudness_lufs is not None:
        out = normalise_loudness(out, fx.loudness_lufs)
    return out


def _de_ess(y2: np.ndarray, sr: int, split_hz: float = 5000.0) -> np.ndarray:
    """Compress only the band above `split_hz`: one-pole low/high filters sum back to the original."""
    import pedalboard as pb

    low = pb.Pedalboard([pb.LowpassFilter(cutoff_frequency_hz=split_hz)])(y2, sr)
    high = pb.Pedalboard([pb.HighpassFilter(cutoff_frequency_hz=split_hz),
                          pb.Compressor(threshold_db=-30, ratio=4, attack_ms=1, release_ms=40)])(y2, sr)
    return low + high


def integrated_loudness(audio: Audio) -> float:
    import pyloudnorm

    y = audio.samples.astype(np.float64)
    if len(y) < int(0.4 * audio.sample_rate):
        y = np.concatenate([y, np.zeros((int(0.4 * audio.sample_rate) - len(y),) + y.shape[1:])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(pyloudnorm.Meter(audio.sample_rate).integrated_loudness(y))


def normalise_loudness(audio: Audio, target_lufs: float, ceiling_dbfs: float = PEAK_CEILING_DBFS) -> Audio:
    """Gain to the target loudness, with a limiter keeping peaks under the ceiling (a few passes,
    since limiting lowers loudness a little)."""
    import pedalboard as pb

    y = audio.samples.astype(np.float32)
    ceiling = 10 ** (ceiling_dbfs / 20)
    limiter_db = ceiling_dbfs - 0.2
    for _ in range(4):
        loud = integrated_loudness(Audio(y, audio.sample_rate))
        if not np.isfinite(loud) or abs(loud - target_lufs) < 0.2:
            break
        y = y * np.float32(10 ** ((target_lufs - loud) / 20))
        if np.max(np.abs(y)) > ceiling:
            y2 = y.T if y.ndim == 2 else y[None, :]
            lim = pb.Pedalboard([pb.Limiter(threshold_db=limiter_db, release_ms=60)])(
                np.ascontiguousarray(y2), audio.sample_rate)
            # JUCE's limiter maps its threshold to 0 dBFS (make-up gain): undo that.
            lim = lim * np.float32(10 ** (limiter_db / 20))
            y = lim[0] if lim.shape[0] == 1 else lim.T
    peak = float(np.max(np.abs(y)))
    if peak > ceiling:
        y = y * np.float32(ceiling / peak)
    return Audio(np.ascontiguousarray(y.astype(np.float32)), audio.sample_rate)
