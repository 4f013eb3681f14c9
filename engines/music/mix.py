"""Mixing and mastering: per-track gain, pan, 3-band EQ, compression and a shared reverb send, then a
master chain (glue compressor, limiter) normalised to a loudness target under a true-peak ceiling.

Settings are plain data (JSON in and out) so a song's stems can be re-mixed later without composing.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from engines.audio import Audio
from engines.errors import InputError

log = logging.getLogger(__name__)

SAMPLE_RATE = 44100
# (low, high) allowed for each numeric track setting.
TRACK_LIMITS = {"gain_db": (-60.0, 12.0), "pan": (-1.0, 1.0), "eq_low_db": (-12.0, 12.0), "eq_mid_db": (-12.0, 12.0),
                "eq_high_db": (-12.0, 12.0), "reverb": (0.0, 1.0), "compression": (0.0, 1.0)}
MASTER_LIMITS = {"target_lufs": (-30.0, -6.0), "ceiling_dbtp": (-6.0, 0.0), "glue": (0.0, 1.0)}
# Shelf and peak frequencies of the 3-band EQ, in Hz.
EQ_LOW_HZ, EQ_MID_HZ, EQ_HIGH_HZ = 200.0, 1000.0, 5000.0
TRUE_PEAK_OVERSAMPLING = 4
# Stem name -> default track settings (the rest default to TrackSettings()).
_STEM_DEFAULTS = {
    "vocals": {"gain_db": 2.0, "eq_mid_db": 1.5, "eq_high_db": 1.5, "reverb": 0.25, "compression": 0.5},
    "drums": {"gain_db": 0.0, "compression": 0.4, "reverb": 0.08},
    "timpani": {"gain_db": -1.0, "reverb": 0.2},
    "bass": {"gain_db": -1.0, "eq_low_db": 2.0, "compression": 0.3, "reverb": 0.0},
    "strings": {"gain_db": -3.0, "pan": -0.25, "reverb": 0.35},
    "brass": {"gain_db": -4.0, "pan": 0.3, "reverb": 0.3},
    "choir": {"gain_db": -5.0, "pan": 0.15, "reverb": 0.45},
    "organ": {"gain_db": -5.0, "pan": -0.15, "reverb": 0.45},
    "piano": {"gain_db": -3.0, "pan": -0.15, "reverb": 0.25},
    "keys": {"gain_db": -5.0, "pan": 0.3, "reverb": 0.3},
    "guitar": {"gain_db": -5.0, "pan": 0.35, "reverb": 0.2},
    "pads": {"gain_db": -7.0, "reverb": 0.5},
    "harp": {"gain_db": -3.0, "pan": -0.3, "reverb": 0.35},
    "woodwinds": {"gain_db": -6.0, "pan": 0.3, "reverb": 0.35},
    "celesta": {"gain_db": -7.0, "pan": 0.4, "reverb": 0.4},
    "bells": {"gain_db": -8.0, "pan": 0.3, "reverb": 0.5},
    "instrumental": {"gain_db": -2.0, "reverb": 0.05},
}
# Style -> overall reverb room size (0..1): bigger halls for the orchestral styles.
_STYLE_ROOM = {"epic": 0.8, "gregorian": 0.95, "fantasy": 0.75, "dark": 0.8, "gladiator": 0.7, "emotional": 0.65,
               "pop": 0.45}


@dataclass(frozen=True)
class TrackSettings:
    # Level change in dB (-60..12).
    gain_db: float = 0.0
    # Stereo position: -1 left, 0 centre, 1 right.
    pan: float = 0.0
    # Low shelf (200 Hz), mid peak (1 kHz) and high shelf (5 kHz) gains in dB (-12..12).
    eq_low_db: float = 0.0
    eq_mid_db: float = 0.0
    eq_high_db: float = 0.0
    # Send to the shared reverb, 0 (dry) .. 1.
    reverb: float = 0.0
    # Compression amount, 0 (off) .. 1 (heavy).
    compression: float = 0.0
    # True silences the track.
    mute: bool = False


@dataclass(frozen=True)
class MasterSettings:
    # Integrated loudness the master is normalised to, in LUFS.
    target_lufs: float = -14.0
    # Highest allowed true peak (4x oversampled), in dBTP.
    ceiling_dbtp: float = -1.0
    # Glue compression on the sum, 0 (off) .. 1.
    glue: float = 0.4
    # Reverb room size of the shared send, 0..1.
    room_size: float = 0.7


@dataclass(frozen=True)
class MixSettings:
    # Stem name -> its track settings.
    tracks: dict[str, TrackSettings]
    # The master chain.
    master: MasterSettings = field(default_factory=MasterSettings)

    def to_json(self) -> str:
        return json.dumps({"tracks": {k: asdict(v) for k, v in self.tracks.items()}, "master": asdict(self.master)},
                          indent=1)

    @classmethod
    def from_json(cls, text: str, stem_names: list[str] | None = None, base: "MixSettings | None" = None) -> "MixSettings":
        """Settings from JSON `{"tracks": {stem: {...}}, "master": {...}}`; fields left out keep `base`'s
        values (or the defaults). Bad JSON, unknown tracks or fields, or values out of range -> InputError."""
        try:
            data = json.loads(text) if (text or "").strip() else {}
        except json.JSONDecodeError as e:
            raise InputError(f"mix settings are not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
        if not isinstance(data, dict):
            raise InputError('mix settings must be a JSON object like {"tracks": {"vocals": {"gain_db": 2}}}')
        unknown = set(data) - {"tracks", "master"}
        if unknown:
            raise InputError(f"unknown mix setting(s) {', '.join(sorted(unknown))}: use 'tracks' and 'master'")
        names = list(stem_names) if stem_names is not None else None
        tracks = dict(base.tracks) if base else {}
        if names is not None:
            tracks = {k: v for k, v in tracks.items() if k in names}
            for k in names:
                tracks.setdefault(k, TrackSettings())
        raw_tracks = data.get("tracks", {})
        if not isinstance(raw_tracks, dict):
            raise InputError("'tracks' must be an object mapping a stem name to its settings")
        for name, values in raw_tracks.items():
            if names is not None and name not in names:
                raise InputError(f"unknown track {name!r}: this song's tracks are {', '.join(names)}")
            tracks[name] = _apply(tracks.get(name, TrackSettings()), values, TRACK_LIMITS, f"track {name!r}")
        master = _apply(base.master if base else MasterSettings(), data.get("master", {}),
                        {**MASTER_LIMITS, "room_size": (0.0, 1.0)}, "master")
        return cls(tracks, master)


def _apply(current, values, limits: dict, where: str):  # noqa: ANN001, ANN202
    if not isinstance(values, dict):
        raise InputError(f"{where}: settings must be a JSON object")
    allowed = set(asdict(current))
    changes = {}
    for key, value in values.items():
        if key not in allowed:
            raise InputError(f"{where}: unknown setting {key!r}; allowed: {', '.join(sorted(allowed))}")
        if key == "mute":
            if not isinstance(value, bool):
                raise InputError(f"{where}: mute must be true or false")
            changes[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"{where}: {key} must be a number")
        lo, hi = limits[key]
        if not lo <= value <= hi:
            raise InputError(f"{where}: {key} {value} is outside {lo:g}..{hi:g}")
        changes[key] = float(value)
    return replace(current, **changes)


def default_mix(style: str, stem_names: list[str]) -> MixSettings:
    """Starting settings for a style's stems: vocals up front, rhythm centred, pads wide and wet."""
    tracks = {name: TrackSettings(**_STEM_DEFAULTS.get(name, {})) for name in stem_names}
    master = MasterSettings(room_size=_STYLE_ROOM.get(style, 0.7), glue=0.5 if style in ("pop", "gladiator") else 0.4)
    return MixSettings(tracks, master)


@dataclass(frozen=True)
class MixResult:
    # The mastered stereo mix.
    audio: Audio
    # Its integrated loudness (LUFS) and true peak (dBTP, 4x oversampled).
    lufs: float
    true_peak_dbtp: float
    # Each stem after its track chain (gain, EQ, compression, pan), before the master.
    stems_processed: dict[str, Audio]


def _stereo(a: Audio, n: int) -> np.ndarray:
    a = a.resampled(SAMPLE_RATE)
    y = a.samples.astype(np.float32)
    if y.ndim == 1:
        y = np.stack([y, y], axis=1)
    elif y.shape[1] == 1:
        y = np.repeat(y, 2, axis=1)
    elif y.shape[1] > 2:
        y = y[:, :2]
    if len(y) >= n:
        return y[:n]
    return np.pad(y, ((0, n - len(y)), (0, 0)))


def _track_chain(t: TrackSettings):  # noqa: ANN202
    import pedalboard as pb

    plugins = []
    if t.eq_low_db:
        plugins.append(pb.LowShelfFilter(cutoff_frequency_hz=EQ_LOW_HZ, gain_db=t.eq_low_db))
    if t.eq_mid_db:
        plugins.append(pb.PeakFilter(cutoff_frequency_hz=EQ_MID_HZ, gain_db=t.eq_mid_db, q=0.8))
    if t.eq_high_db:
        plugins.append(pb.HighShelfFilter(cutoff_frequency_hz=EQ_HIGH_HZ, gain_db=t.eq_high_db))
    if t.compression > 0:
        plugins.append(pb.Compressor(threshold_db=-12 - 18 * t.compression, ratio=1.5 + 4.5 * t.compression,
                                     attack_ms=10, release_ms=120))
        plugins.append(pb.Gain(gain_db=4 * t.compression))  # make-up
    return pb.Pedalboard(plugins) if plugins else None


def true_peak_dbtp(y: np.ndarray) -> float:
    """True peak in dBTP: the sample peak of the signal oversampled 4x (all channels)."""
    from scipy.signal import resample_poly

    y = np.asarray(y, np.float32)
    if not y.size:
        return -math.inf
    up = resample_poly(y, TRUE_PEAK_OVERSAMPLING, 1, axis=0)
    peak = max(float(np.max(np.abs(up))), float(np.max(np.abs(y))))
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def loudness_lufs(y: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(rate).integrated_loudness(y))


def mix(stems: dict[str, Audio], settings: MixSettings) -> MixResult:
    """Stems (any rate, mono or stereo; all cut or padded to the longest) -> mastered stereo 44.1 kHz mix."""
    import pedalboard as pb

    if not stems:
        raise InputError("there are no tracks to mix")
    unknown = set(settings.tracks) - set(stems)
    if unknown:
        raise InputError(f"mix settings name track(s) {', '.join(sorted(unknown))} that this song does not have; "
                         f"its tracks are {', '.join(stems)}")
    n = max(int(round(a.duration_s * SAMPLE_RATE)) for a in stems.values())
    bus = np.zeros((n, 2), np.float32)
    send = np.zeros((n, 2), np.float32)
    processed: dict[str, Audio] = {}
    for name, audio in stems.items():
        t = settings.tracks.get(name, TrackSettings())
        y = _stereo(audio, n)
        chain = _track_chain(t)
        if chain is not None:
            y = chain(y.T.copy(), SAMPLE_RATE).T
        # Constant-power pan of the stereo image.
        angle = (t.pan + 1) * math.pi / 4
        y = y * (10 ** (t.gain_db / 20)) * np.array([math.cos(angle), math.sin(angle)], np.float32) * math.sqrt(2)
        y = y.astype(np.float32)
        processed[name] = Audio(y, SAMPLE_RATE)
        if t.mute:
            continue
        bus += y
        if t.reverb > 0:
            send += y * t.reverb
    m = settings.master
    if np.any(send):
        reverb = pb.Reverb(room_size=m.room_size, damping=0.5, wet_level=1.0, dry_level=0.0, width=1.0)
        bus += reverb(send.T.copy(), SAMPLE_RATE).T[:n] * 0.6
    if m.glue > 0:
        glue = pb.Compressor(threshold_db=-10 - 14 * m.glue, ratio=1.5 + 2.5 * m.glue, attack_ms=30, release_ms=200)
        bus = glue(bus.T.copy(), SAMPLE_RATE).T
    out, lufs, tp = master(bus, m.target_lufs, m.ceiling_dbtp)
    log.info("mixed %d tracks: %.2f LUFS, %.2f dBTP", len(stems), lufs, tp)
    return MixResult(Audio(out, SAMPLE_RATE), lufs, tp, processed)


def master(y: np.ndarray, target_lufs: float = -14.0, ceiling_dbtp: float = -1.0) -> tuple[np.ndarray, float, float]:
    """Limit and normalise stereo `y` to `target_lufs` (+-0.5) with its true peak at most `ceiling_dbtp`.

    The limiter holds sample peaks at 0 dBFS; a gain cut after it puts them under the ceiling, and the
    gain before it is iterated until the loudness after the whole chain meets the target."""
    import pedalboard as pb

    y = np.asarray(y, np.float32)
    if not np.any(y):
        return y, -math.inf, -math.inf
    margin_db = ceiling_dbtp - 0.6  # room for inter-sample peaks above the sample peaks
    post = 10 ** (margin_db / 20)
    raw_lufs = loudness_lufs(y)
    if not math.isfinite(raw_lufs):
        return y, raw_lufs, true_peak_dbtp(y)
    pre_db = target_lufs - raw_lufs - margin_db
    out, lufs = y, raw_lufs
    for _ in range(6):
        limiter = pb.Pedalboard([pb.Gain(gain_db=pre_db), pb.Limiter(threshold_db=0.0, release_ms=80)])
        out = np.clip(limiter(y.T.copy(), SAMPLE_RATE).T, -1.0, 1.0) * post
        lufs = loudness_lufs(out)
        err = target_lufs - lufs
        if abs(err) <= 0.1:
            break
        pre_db += err
    tp = true_peak_dbtp(out)
    if tp > ceiling_dbtp:
        out = out * 10 ** ((ceiling_dbtp - 0.05 - tp) / 20)
        lufs, tp = loudness_lufs(out), true_peak_dbtp(out)
    return out.astype(np.float32), lufs, tp
