"""Mixing and mastering: per-track gain, pan, 3-band EQ, compression and a shared reverb send, then a
master chain (glue compressor, limiter) normalised to a loudness target under a true-peak ceiling.

Settings are plain data (JSON in and out) so a song's stems can be re-mixed later without composing.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from core.audio import Audio
from core.errors import InputError
from engines.music.types import SAMPLE_RATE

log = logging.getLogger(__name__)

# (low, high) allowed for each numeric track setting.
TRACK_LIMITS = {"gain_db": (-60.0, 12.0), "pan": (-1.0, 1.0), "eq_low_db": (-12.0, 12.0), "eq_mid_db": (-12.0, 12.0),
                "eq_high_db": (-12.0, 12.0), "reverb": (0.0, 1.0), "compression": (0.0, 1.0)}
MASTER_LIMITS = {"target_lufs": (-30.0, -6.0), "ceiling_dbtp": (-6.0, 0.0), "glue": (0.0, 1.0)}
# Shelf and peak frequencies of the 3-band EQ, in Hz.
EQ_LOW_HZ, EQ_MID_HZ, EQ_HIGH_HZ = 200.0, 1000.0, 5000.0
TRUE_PEAK_OVERSAMPLING = 4
TRACK_THREADS = 2
# Mastering: the final true peak lands at least this far under the ceiling (float rounding); the first
# drive into the limiter is the gain that would meet the target plus FIRST_DRIVE_DB (the limiter adds
# about 3.7 dB of make-up, so typical mixes then need about the limiting they get); the loudness may end
# TOLERANCE_LU under the target when the ceiling holds it down; the limiter runs at most so often.
CEILING_MARGIN_DB = 0.02
FIRST_DRIVE_DB = -2.0
TOLERANCE_LU = 0.1
MAX_LIMITER_PASSES = 4
# A pass is accepted when the final gain has between -TOLERANCE_LU and MAX_ROOM_DB of room under the
# ceiling (more room = more limiting than needed); a retry aims at ROOM_AIM_DB.
MAX_ROOM_DB = 0.6
ROOM_AIM_DB = 0.25
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
    def from_json(cls, text: str, stem_names: list[str] | None = None, base: MixSettings | None = None) -> MixSettings:
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


def _apply(current, values, limits: dict, where: str):
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
    # Each stem after its track chain (gain, EQ, compression, pan), before the master; (n, 2) views of
    # channel-first buffers (np.ascontiguousarray before handing them to C code that needs row order).
    stems_processed: dict[str, Audio]


def _planar(a: Audio, n: int) -> np.ndarray:
    """The stem as C-contiguous float32 (2, n) at 44.1 kHz (mono doubled, extra channels dropped, cut or padded)."""
    a = a.resampled(SAMPLE_RATE)
    y = np.asarray(a.samples, np.float32)
    if y.ndim == 1:
        y = y[None, :]
    else:
        y = y[:, :2].T
    out = np.zeros((2, n), np.float32)
    m = min(n, y.shape[1])
    out[:, :m] = y[:, :m]  # a mono row broadcasts to both channels
    return out


def _track_chain(t: TrackSettings):
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


_TP_ROW = 32  # input samples per row of the true-peak matrix product
_TP_REACH = 10  # input samples each side that the 4x interpolation filter reaches
_TP_ROWS_PER_CHUNK = 4096


@functools.cache
def _oversampling_matrix() -> np.ndarray:
    """The 4x interpolation filter of scipy's resample_poly (81-tap Kaiser-windowed sinc, float32) as a
    banded matrix: a row of _TP_ROW input samples plus 2*_TP_REACH neighbours times it gives the row's
    4*_TP_ROW oversampled values, in order."""
    from scipy.signal import firwin

    k, reach, rows = TRUE_PEAK_OVERSAMPLING, _TP_REACH, _TP_ROW
    h = firwin(2 * reach * k + 1, 1.0 / k, window=("kaiser", 5.0)).astype(np.float32) * np.float32(k)
    m = np.zeros((rows + 2 * reach, k * rows), np.float32)
    for r in range(rows):
        for j in range(2 * reach + 1):
            for p in range(k):
                t = p + k * (2 * reach - j)
                if t < len(h):
                    m[r + j, k * r + p] = h[t]
    return m


def true_peak_dbtp(y: np.ndarray) -> float:
    """True peak in dBTP: the sample peak of the signal oversampled 4x (all channels).

    The same values as `scipy.signal.resample_poly(y, 4, 1, axis=0)` (same filter, same zero padding at
    the ends), computed as matrix products over blocks of rows so it runs at BLAS speed."""
    y = np.asarray(y, np.float32)
    if not y.size:
        return -math.inf
    if y.ndim == 1:
        y = y[:, None]
    n = len(y)
    width, reach, k = _TP_ROW, _TP_REACH, TRUE_PEAK_OVERSAMPLING
    mat = _oversampling_matrix()
    rows = -(-n // width)
    peak = float(max(y.max(), -y.min()))
    padded = np.zeros(rows * width + width + 2 * reach, np.float32)
    for c in range(y.shape[1]):
        padded[reach:reach + n] = y[:, c]
        for r0 in range(0, rows, _TP_ROWS_PER_CHUNK):
            r1 = min(rows, r0 + _TP_ROWS_PER_CHUNK)
            x = np.empty((r1 - r0, width + 2 * reach), np.float32)
            x[:, :width] = padded[r0 * width:r1 * width].reshape(-1, width)
            x[:, width:] = padded[(r0 + 1) * width:(r1 + 1) * width].reshape(-1, width)[:, :2 * reach]
            up = (x @ mat).reshape(-1)
            if r1 == rows:
                up = up[:k * (n - r0 * width)]  # nothing after the last sample's own values
            peak = max(peak, float(up.max()), float(-up.min()))
    return 20 * math.log10(peak) if peak > 0 else -math.inf


@functools.cache
def _k_weighting(rate: int) -> np.ndarray:
    """The BS.1770 K-weighting (high shelf then high pass) as second-order sections, as pyloudnorm makes it."""
    from pyloudnorm.iirfilter import IIRfilter

    shelf = IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, rate, "high_shelf")
    hp = IIRfilter(0.0, 0.5, 38.0, rate, "high_pass")
    return np.array([np.concatenate([f.b * f.passband_gain, f.a]) for f in (shelf, hp)], np.float64)


def loudness_lufs(y: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """Integrated loudness (ITU-R BS.1770-4, gated, channel gains 1) in LUFS: the same blocks and gates as
    pyloudnorm's meter, computed in one vectorised pass. -inf for silence or less than one 400 ms block."""
    from scipy.signal import sosfilt

    y = np.asarray(y, np.float32)
    if y.ndim == 1:
        y = y[:, None]
    n = len(y)
    block_s, step = 0.4, 0.25
    if n < block_s * rate:
        return -math.inf
    k = sosfilt(_k_weighting(rate).astype(np.float32), y, axis=0)
    power = np.einsum("ij,ij->i", k, k)  # channels summed (gains 1)
    num = int(np.round((n / rate - block_s) / (block_s * step))) + 1
    j = np.arange(num)
    lo = (block_s * (j * step) * rate).astype(np.int64)
    hi = np.minimum((block_s * (j * step + 1) * rate).astype(np.int64), n)
    # Sums between consecutive block edges (each block spans a few of these hops), in float64.
    edges = np.unique(np.concatenate([lo, hi[hi < n]]))
    hops = np.add.reduceat(power, edges, dtype=np.float64)
    energy = np.concatenate([[0.0], np.cumsum(hops)])  # energy[i]: sum of power before edges[i] (or n)
    z = (energy[np.searchsorted(edges, hi)] - energy[np.searchsorted(edges, lo)]) / (block_s * rate)
    with np.errstate(divide="ignore"):
        level = -0.691 + 10 * np.log10(z)
        gated = z[level >= -70.0]
        if not gated.size:
            return -math.inf
        relative = -0.691 + 10 * np.log10(gated.mean()) - 10.0
        kept = z[(level > relative) & (level > -70.0)]
        return float(-0.691 + 10 * np.log10(kept.mean())) if kept.size else -math.inf


def _check_tracks(names: list[str], settings: MixSettings) -> None:
    unknown = set(settings.tracks) - set(names)
    if unknown:
        raise InputError(f"mix settings name track(s) {', '.join(sorted(unknown))} that this song does not have; "
                         f"its tracks are {', '.join(names)}")


def _process_tracks(stems: dict[str, Audio], settings: MixSettings,
                    n: int) -> tuple[np.ndarray, np.ndarray, dict[str, Audio]]:
    """Every stem through its track chain (gain, EQ, compression, pan), summed onto a dry bus and a reverb
    send (channel-first (2, n) float32); also each processed stem."""
    names = list(stems)
    tracks = [settings.tracks.get(name, TrackSettings()) for name in names]

    def process(i: int) -> np.ndarray:
        """One track's chain, gain and pan, channel-first (2, n) float32 (the layout pedalboard takes as is)."""
        t = tracks[i]
        y = _planar(stems[names[i]], n)
        chain = _track_chain(t)
        if chain is not None:
            y = chain(y, SAMPLE_RATE)
        # Gain and constant-power pan of the stereo image in one multiply.
        angle = (t.pan + 1) * math.pi / 4
        scale = 10 ** (t.gain_db / 20) * math.sqrt(2)
        y *= np.array([[math.cos(angle) * scale], [math.sin(angle) * scale]], np.float32)
        return y

    bus = np.zeros((2, n), np.float32)
    send = np.zeros((2, n), np.float32)
    scratch = np.empty((2, n), np.float32)
    processed: dict[str, Audio] = {}
    # The plug-ins release the GIL: tracks are processed two at a time (the machine's cores).
    with ThreadPoolExecutor(TRACK_THREADS) as pool:
        for name, t, y in zip(names, tracks, pool.map(process, range(len(names)))):
            processed[name] = Audio(y.T, SAMPLE_RATE)  # (n, 2) view of the channel-first buffer
            if t.mute:
                continue
            bus += y
            if t.reverb > 0:
                np.multiply(y, np.float32(t.reverb), out=scratch)
                send += scratch
    return bus, send, processed


def mix(stems: dict[str, Audio], settings: MixSettings) -> MixResult:
    """Stems (any rate, mono or stereo; all cut or padded to the longest) -> mastered stereo 44.1 kHz mix."""
    import pedalboard as pb

    if not stems:
        raise InputError("there are no tracks to mix")
    _check_tracks(list(stems), settings)
    n = max(int(round(a.duration_s * SAMPLE_RATE)) for a in stems.values())
    bus, send, processed = _process_tracks(stems, settings, n)
    m = settings.master
    if np.any(send):
        reverb = pb.Reverb(room_size=m.room_size, damping=0.5, wet_level=0.6, dry_level=0.0, width=1.0)
        bus += reverb(send, SAMPLE_RATE)[:, :n]
    del send
    if m.glue > 0:
        glue = pb.Compressor(threshold_db=-10 - 14 * m.glue, ratio=1.5 + 2.5 * m.glue, attack_ms=30, release_ms=200)
        bus = glue(bus, SAMPLE_RATE)
    out, lufs, tp = master(bus.T, m.target_lufs, m.ceiling_dbtp)
    log.info("mixed %d tracks: %.2f LUFS, %.2f dBTP", len(stems), lufs, tp)
    return MixResult(Audio(out, SAMPLE_RATE), lufs, tp, processed)


def master(y: np.ndarray, target_lufs: float = -14.0, ceiling_dbtp: float = -1.0) -> tuple[np.ndarray, float, float]:
    """Limit and normalise stereo (n, 2) `y` to `target_lufs` (+-0.5) with its true peak at most `ceiling_dbtp`.

    Loudness and true peak both move by exactly g dB under a gain of g dB, so only the limiter needs
    passes over the audio. The signal is driven into a limiter at 0 dBFS; its loudness and true peak
    after it are measured once per pass, and a final gain lands it on the target (or under the ceiling
    if that comes first). The drive is searched for the least limiting whose result leaves the final
    gain room to reach the target under the ceiling (usually one or two passes)."""
    import pedalboard as pb

    y = np.asarray(y, np.float32)
    if not np.any(y):
        return np.ascontiguousarray(y), -math.inf, -math.inf
    raw_lufs = loudness_lufs(y)
    if not math.isfinite(raw_lufs):
        y = np.ascontiguousarray(y)
        return y, raw_lufs, true_peak_dbtp(y)
    safe_ceiling = ceiling_dbtp - CEILING_MARGIN_DB
    need = target_lufs - raw_lufs
    if 20 * math.log10(float(np.max(np.abs(y)))) + need <= safe_ceiling:  # the true peak is never lower
        raw_tp = true_peak_dbtp(y)
        if raw_tp + need <= safe_ceiling:  # fits without limiting: a plain gain
            return _gain(y, need), target_lufs, raw_tp + need
    planar = np.ascontiguousarray(y.T)
    # Room left by the final gain (dB) after a pass: >= 0 meets the target under the ceiling.
    pre_db = need + FIRST_DRIVE_DB
    tried: list[tuple[float, float]] = []  # (drive, room)
    best = None
    for _ in range(MAX_LIMITER_PASSES):
        limiter = pb.Pedalboard([pb.Gain(gain_db=pre_db), pb.Limiter(threshold_db=0.0, release_ms=80)])
        limited = limiter(planar, SAMPLE_RATE).T
        np.clip(limited, -1.0, 1.0, out=limited)
        lufs, tp = loudness_lufs(limited), true_peak_dbtp(limited)
        room = (safe_ceiling - tp) - (target_lufs - lufs)
        log.debug("limiter drive %.2f dB: %.2f LUFS, %.2f dBTP, room %.2f dB", pre_db, lufs, tp, room)
        # Prefer the least limiting that meets the target; else the result closest to it.
        key = (0, room) if room >= -TOLERANCE_LU else (1, -room)
        if best is None or key < best[0]:
            best = (key, limited, lufs, tp)
        if -TOLERANCE_LU <= room <= MAX_ROOM_DB:
            break
        tried.append((pre_db, room))
        if len(tried) >= 2 and tried[-1][1] != tried[-2][1]:  # secant step towards room = ROOM_AIM_DB
            (d0, r0), (d1, r1) = tried[-2], tried[-1]
            step = (ROOM_AIM_DB - r1) * (d1 - d0) / (r1 - r0)
        else:
            step = ROOM_AIM_DB - room
        pre_db += float(np.clip(step, -6.0, 6.0))
    _, limited, lufs, tp = best
    g = min(target_lufs - lufs, safe_ceiling - tp)
    return _gain(limited, g), lufs + g, tp + g


def _gain(y: np.ndarray, gain_db: float) -> np.ndarray:
    out = np.empty(y.shape, np.float32)
    np.multiply(y, np.float32(10 ** (gain_db / 20)), out=out)
    return out
