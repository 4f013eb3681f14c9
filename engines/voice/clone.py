"""Embedded voice cloning: espeak-ng speaks, WORLD (pyworld) converts it toward a reference speaker.

`analyse(clips)` builds a `VoiceModel` from a few clean reference clips (once per profile, ~10-20 s);
`speak_as(text, model)` renders any text in that voice (real-time factor ~0.07 on 2 cores);
`convert(audio, model)` converts any speech (tuned for speech from the model's espeak base voice).

The method, each step kept because it measured better (resemblyzer similarity to held-out
utterances of the speaker, see bench/voice_clone.py):

  * WORLD analysis at 16 kHz with 5 ms frames: harvest for the references (steadier voicing than
    dio, +0.04 on resynthesis), dio + stonemask for the source (fast). Each reference frame keeps its
    coded spectral envelope, coded aperiodicity, F0, voicing and level relative to its clip.
  * Frame matching: the source's mel-cepstra (c1..c12) are mapped into the speaker's cepstral space
    by an affine map fitted at analysis time INCA-style (iterated nearest-neighbour pairs between
    base-voice calibration speech and the references, then a ridge regression), normalised by the
    speaker's statistics, and extended with the output log-F0 (so frames are taken from references
    spoken at a similar pitch). Voiced and unvoiced frames are matched separately (k-d trees).
  * Unit selection: among the 16 nearest reference frames, a Viterbi search prefers runs of
    consecutive reference frames (natural spectral movement); the chosen frame's envelope and
    aperiodicity replace the source's (no D4C on the source: faster, same similarity).
  * Energy: half the source's level contour, half the chosen frames' own relative levels, then
    the contour's modulation bands are rescaled toward the speaker's; F0 by log mean/variance map.
  * Per speaker, chosen automatically at analysis: the espeak variant used as base voice and a
    pitch offset (candidates are converted and scored against the references' speaker embedding),
    and the espeak speed from the references' syllable rate.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from engines.audio import Audio
from engines.errors import InputError
from engines.progress import ProgressFn, no_progress
from engines.voice import espeak
from engines.voice.similarity import mean_embedding, similarity, speaker_embedding

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pyworld imports the deprecated pkg_resources
    import pyworld as pw

log = logging.getLogger(__name__)

__all__ = ["VoiceModel", "Options", "analyse", "convert", "speak_as", "speaker_embedding", "similarity"]

# Working sample rate of the converter (Hz); converted audio comes back at this rate.
SAMPLE_RATE = 16_000
# WORLD frame period, milliseconds.
FRAME_MS = 5.0
# FFT size of CheapTrick / D4C at SAMPLE_RATE (covers F0 down to ~60 Hz).
FFT_SIZE = 1024
# Dimensions of the coded (mel-cepstral) spectral envelope kept per reference frame.
ENV_DIMS = 40
# Dimensions of the coded aperiodicity kept per reference frame.
AP_DIMS = 16
# F0 search range of the analysis, Hz.
F0_FLOOR_HZ, F0_CEIL_HZ = 60.0, 600.0
# Minimum voiced speech across the reference clips, seconds.
MIN_VOICED_S = 3.0
# At most this much reference audio is analysed (seconds); longer material adds little.
MAX_REFERENCE_S = 120.0
# Long clips are analysed in pieces of about this length (seconds), split at quiet points.
CHUNK_S = 12.0
# Frames quieter than the loud frames by more than this many dB are treated as silence.
SILENCE_DB = 45.0
# Relative levels are floored here (dB) before contour analysis (recorded pauses hold noise,
# espeak's are digital silence).
LEVEL_FLOOR_DB = -40.0
# Moving-average lengths (frames) splitting a contour into modulation bands:
# < 20 ms, 20-60 ms, 60-200 ms, 200-600 ms, > 600 ms.
BAND_WINDOWS = (4, 12, 40, 120)
# Pitch offsets (semitones) tried at analysis around the best base voice.
PITCH_STEPS = (2.0, 4.0)
# Format version written into VoiceModel.to_bytes().
FORMAT_VERSION = 1
# Worker threads for WORLD analysis and candidate scoring (pyworld releases the GIL).
THREADS = 2


@dataclass(frozen=True)
class Options:
    """Tunables of the converter. The defaults are the measured best; benchmarks may override."""

    # Cepstral coefficients (after c0) used for frame matching (12 beat 24 by ~0.03).
    match_dims: int = 12
    # Weight of the normalised output log-F0 appended to the matching features (0 = unused).
    match_f0: float = 2.0
    # Reference candidates per frame for the Viterbi unit selection.
    candidates: int = 16
    # Viterbi cost of jumping to a non-consecutive reference frame (squared feature distance units).
    jump_cost: float = 3.0
    # Viterbi cost of repeating or skipping one reference frame.
    step_cost: float = 1.0
    # Weight of the chosen reference frames' relative level in the output level contour.
    energy_ref: float = 0.5
    # Strength of rescaling the level contour's modulation bands toward the speaker's (0 = off).
    level_bands: float = 1.0
    # Largest gain applied to one modulation band.
    band_max_gain: float = 3.0
    # Iterations and ridge factor of the INCA feature map fit.
    inca_iterations: int = 4
    inca_ridge: float = 0.01
    # Sentences of MAPPING_SENTENCES the base voice speaks to fit the feature map.
    mapping_sentences: int = 6
    # Calibration sentences converted to score each base-voice candidate.
    scoring_sentences: int = 3


DEFAULT_OPTIONS = Options()


@dataclass
class VoiceModel:
    # espeak voice used as the source, e.g. "en-us+m3".
    base_voice: str
    # espeak speed multiplier matching the speaker's speaking rate.
    rate: float
    # Human-readable figures: f0_median_hz, f0_range_hz, speaking_rate_sps, loudness_lufs, ...
    stats: dict
    # Per reference frame (n frames): coded spectral envelope (n, ENV_DIMS).
    env: np.ndarray
    # Per reference frame: coded aperiodicity (n, AP_DIMS).
    ap: np.ndarray
    # Per reference frame: voiced flag (n,).
    voiced: np.ndarray
    # Per reference frame: F0 in Hz, 0 where unvoiced (n,).
    f0: np.ndarray
    # Per reference frame: level in dB relative to the loud voiced frames of its clip (n,).
    rel_db: np.ndarray
    # Speaker's matching-feature normalisation: mean and std of env[:, 1:] (ENV_DIMS - 1,).
    feat_mean: np.ndarray
    feat_std: np.ndarray
    # Affine map of the base voice's cepstra env[:, 1:] into the speaker's space:
    # x -> x @ src_map.T + src_bias, src_map (ENV_DIMS - 1, ENV_DIMS - 1).
    src_map: np.ndarray
    src_bias: np.ndarray
    # Std of the level contour's modulation bands (BAND_WINDOWS split), (len(BAND_WINDOWS) + 1,).
    level_band_std: np.ndarray
    # Speaker embedding of the references (resemblyzer, L2-normalised, 256,).
    reference_embedding: np.ndarray
    # Natural-log F0 mean and std of the speaker and of the base voice.
    lf0: tuple[float, float] = (float(np.log(150.0)), 0.2)
    src_lf0: tuple[float, float] = (float(np.log(120.0)), 0.1)
    # Pitch offset (semitones) chosen at analysis, applied on top of the F0 mapping.
    pitch_offset: float = 0.0
    # Output loudness, LUFS (the references').
    loudness_lufs: float = -20.0

    _ARRAYS = ("env", "ap", "voiced", "f0", "rel_db", "feat_mean", "feat_std", "src_map", "src_bias",
               "level_band_std", "reference_embedding")

    def __post_init__(self) -> None:
        # Search trees built on first use; not serialised.
        self._cache: dict = {}
        self._lock = threading.Lock()

    @property
    def n_frames(self) -> int:
        return len(self.voiced)

    def to_bytes(self) -> bytes:
        """np.savez_compressed of the arrays plus JSON metadata (no pickle)."""
        meta = {
            "format": FORMAT_VERSION,
            "sample_rate": SAMPLE_RATE,
            "base_voice": self.base_voice,
            "rate": float(self.rate),
            "stats": self.stats,
            "lf0": [float(v) for v in self.lf0],
            "src_lf0": [float(v) for v in self.src_lf0],
            "pitch_offset": float(self.pitch_offset),
            "loudness_lufs": float(self.loudness_lufs),
        }
        arrays = {name: np.asarray(getattr(self, name)) for name in self._ARRAYS}
        arrays["voiced"] = arrays["voiced"].astype(np.uint8)
        buf = io.BytesIO()
        np.savez_compressed(buf, meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8), **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "VoiceModel":
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                meta = json.loads(z["meta"].tobytes().decode("utf-8"))
                arrays = {name: z[name] for name in cls._ARRAYS}
        except Exception as exc:  # corrupt or foreign bytes
            raise InputError(f"this voice model cannot be read ({type(exc).__name__})") from exc
        if meta.get("format") != FORMAT_VERSION or meta.get("sample_rate") != SAMPLE_RATE:
            raise InputError("this voice model was made by another version; analyse the reference clips again")
        arrays["voiced"] = arrays["voiced"].astype(bool)
        return cls(base_voice=meta["base_voice"], rate=meta["rate"], stats=meta["stats"],
                   lf0=tuple(meta["lf0"]), src_lf0=tuple(meta["src_lf0"]), pitch_offset=meta["pitch_offset"],
                   loudness_lufs=meta["loudness_lufs"], **arrays)


# ------------------------------------------------------------------ WORLD analysis


@dataclass
class _World:
    f0: np.ndarray  # (t,) Hz, 0 where unvoiced
    env: np.ndarray  # (t, ENV_DIMS) coded spectral envelope
    power_db: np.ndarray  # (t,) frame power of the envelope, dB
    ap: np.ndarray | None  # (t, FFT_SIZE // 2 + 1) aperiodicity, if analysed


def _as_signal(audio: Audio) -> np.ndarray:
    x = audio.mono().resampled(SAMPLE_RATE).samples.astype(np.float64)
    return np.ascontiguousarray(np.nan_to_num(x))


def _world(x: np.ndarray, *, reference: bool) -> _World:
    """WORLD analysis; `reference` uses harvest and D4C (slow, once per profile)."""
    if reference:
        f0, t = pw.harvest(x, SAMPLE_RATE, f0_floor=F0_FLOOR_HZ, f0_ceil=F0_CEIL_HZ, frame_period=FRAME_MS)
    else:
        f0, t = pw.dio(x, SAMPLE_RATE, f0_floor=F0_FLOOR_HZ, f0_ceil=F0_CEIL_HZ, frame_period=FRAME_MS)
    f0 = pw.stonemask(x, f0, t, SAMPLE_RATE)
    sp = pw.cheaptrick(x, f0, t, SAMPLE_RATE, fft_size=FFT_SIZE)
    ap = pw.d4c(x, f0, t, SAMPLE_RATE, fft_size=FFT_SIZE) if reference else None
    env = pw.code_spectral_envelope(sp, SAMPLE_RATE, ENV_DIMS)
    power_db = 10.0 * np.log10(np.mean(sp, axis=1) + 1e-20)
    return _World(f0, env, power_db, ap)


def _code_ap(ap: np.ndarray) -> np.ndarray:
    return pw.code_spectral_envelope(np.ascontiguousarray(np.clip(ap, 1e-6, 1.0)), SAMPLE_RATE, AP_DIMS)


def _decode_ap(coded: np.ndarray) -> np.ndarray:
    ap = pw.decode_spectral_envelope(np.ascontiguousarray(coded, dtype=np.float64), SAMPLE_RATE, FFT_SIZE)
    return np.clip(ap, 1e-6, 1.0 - 1e-6)


def _loud_mask(power_db: np.ndarray) -> np.ndarray:
    if power_db.size == 0:
        return np.zeros(0, bool)
    return power_db > np.percentile(power_db, 95) - SILENCE_DB


def _relative_levels(power_db: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Frame power relative to the 95th percentile of the voiced frames (dB)."""
    ref = np.percentile(power_db[voiced], 95) if voiced.sum() > 10 else np.percentile(power_db, 95)
    return power_db - ref


def _lf0_stats(f0: np.ndarray) -> tuple[float, float]:
    v = np.log(f0[f0 > 0])
    if v.size < 10:
        return float(np.log(150.0)), 0.15
    return float(np.mean(v)), float(max(np.std(v), 0.02))


def _bands(x: np.ndarray) -> list[np.ndarray]:
    from scipy.ndimage import uniform_filter1d

    smooth = [x] + [uniform_filter1d(x, w, mode="nearest") for w in BAND_WINDOWS]
    out = [smooth[i] - smooth[i + 1] for i in range(len(BAND_WINDOWS))]
    out.append(smooth[-1] - smooth[-1].mean())
    return out


def _reshape_bands(x: np.ndarray, mask: np.ndarray, target_std: np.ndarray, max_gain: float,
                   strength: float) -> np.ndarray:
    """Rescale each modulation band of contour x so its std over `mask` approaches target_std."""
    out = np.full_like(x, x[mask].mean())
    for b, t in zip(_bands(x), target_std):
        sd = float(np.std(b[mask]))
        g = float(np.clip(t / sd, 1.0 / max_gain, max_gain)) if sd > 1e-9 else 1.0
        out += b * g ** strength
    return out + (x[mask].mean() - out[mask].mean())


# ------------------------------------------------------------------ conversion


def _match_features(env: np.ndarray, f0: np.ndarray, model: VoiceModel, opts: Options) -> np.ndarray:
    """Speaker-normalised cepstra c1..c_d, plus the weighted normalised log F0."""
    d = opts.match_dims
    z = (env[:, 1:1 + d] - model.feat_mean[:d]) / model.feat_std[:d]
    if opts.match_f0 > 0:
        mu, sd = model.lf0
        lf = np.where(f0 > 0, (np.log(np.maximum(f0, 1.0)) - mu) / sd, 0.0)
        z = np.hstack([z, np.clip(lf, -4.0, 4.0)[:, None] * opts.match_f0])
    return np.ascontiguousarray(z, dtype=np.float32)


def _trees(model: VoiceModel, opts: Options) -> dict:
    """k-d trees over the reference frames, one for voiced and one for unvoiced frames."""
    from scipy.spatial import cKDTree

    key = (opts.match_dims, opts.match_f0)
    with model._lock:
        if model._cache.get("key") != key:
            feats = _match_features(model.env.astype(np.float64), model.f0.astype(np.float64), model, opts)
            trees = {}
            for flag in (True, False):
                idx = np.flatnonzero(model.voiced == flag)
                if idx.size == 0:  # no frames of this class: search all frames
                    idx = np.arange(model.n_frames)
                trees[flag] = (cKDTree(feats[idx]), idx)
            model._cache = {"key": key, "trees": trees}
        return model._cache["trees"]


def _viterbi(cand: np.ndarray, dist: np.ndarray, loud: np.ndarray, opts: Options, n_dims: int) -> np.ndarray:
    """One candidate per loud frame minimising match cost plus jump costs; runs of consecutive
    reference frames cost nothing. Each stretch of loud frames is searched separately."""
    n, kc = cand.shape
    path = np.full(n, -1, dtype=np.int64)
    cost = dist ** 2 / max(1, n_dims)
    cols = np.arange(kc)
    t = 0
    while t < n:
        if not loud[t]:
            t += 1
            continue
        start = t
        while t < n and loud[t]:
            t += 1
        c, tc = cand[start:t], cost[start:t]
        back = np.zeros((len(c), kc), dtype=np.int64)
        acc = tc[0].copy()
        for i in range(1, len(c)):
            step = c[i][None, :] - c[i - 1][:, None]
            trans = np.where(step == 1, 0.0, np.where((step == 0) | (step == 2), opts.step_cost, opts.jump_cost))
            total = acc[:, None] + trans
            best = np.argmin(total, axis=0)
            back[i] = best
            acc = total[best, cols] + tc[i]
        j = int(np.argmin(acc))
        for i in range(len(c) - 1, -1, -1):
            path[start + i] = c[i, j]
            j = back[i, j]
    return path


def convert(source: Audio, model: VoiceModel, pitch_semitones: float = 0.0, *,
            options: Options | None = None) -> Audio:
    """Convert speech `source` (any rate) to the model's voice; returns 16 kHz mono audio.

    `pitch_semitones` shifts the converted F0 (e.g. +2.0 two semitones up). Works best on speech
    from the model's espeak base voice, whose statistics the model holds.
    """
    x = _as_signal(source)
    if x.size < SAMPLE_RATE * 0.05:
        raise InputError("the speech to convert is too short (under 50 ms)")
    return _convert_world(_world_split(x), model, pitch_semitones, options or DEFAULT_OPTIONS)


# Signals longer than this (seconds) are analysed and synthesised in two halves on two threads.
SPLIT_S = 4.0
_HOP = int(SAMPLE_RATE * FRAME_MS / 1000)


def _world_split(x: np.ndarray) -> _World:
    """Source analysis, in two threads for long signals (cut at a quiet frame boundary)."""
    if len(x) < SPLIT_S * SAMPLE_RATE:
        return _world(x, reference=False)
    frames = np.sqrt(np.mean(x[: len(x) // _HOP * _HOP].reshape(-1, _HOP) ** 2, axis=1))
    lo, hi = len(frames) // 3, 2 * len(frames) // 3
    cut = (lo + int(np.argmin(frames[lo:hi]))) * _HOP
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda part: _world(part, reference=False), (x[:cut], x[cut:]))
    # a's last frame sits at the cut, where b's first frame is: drop it.
    return _World(np.concatenate([a.f0[:-1], b.f0]), np.concatenate([a.env[:-1], b.env]),
                  np.concatenate([a.power_db[:-1], b.power_db]), None)


def _synthesize(f0: np.ndarray, sp: np.ndarray, ap: np.ndarray, power_db: np.ndarray) -> np.ndarray:
    """WORLD synthesis, in two threads for long signals (split at the quietest middle frame)."""
    n = len(f0)

    def run(span: tuple[int, int]) -> np.ndarray:
        a, b = span
        return pw.synthesize(np.ascontiguousarray(f0[a:b]), np.ascontiguousarray(sp[a:b]),
                             np.ascontiguousarray(ap[a:b]), SAMPLE_RATE, FRAME_MS)

    if n * FRAME_MS / 1000 < SPLIT_S:
        return run((0, n))
    lo, hi = n // 3, 2 * n // 3
    j = lo + int(np.argmin(power_db[lo:hi]))
    with ThreadPoolExecutor(2) as pool:
        y1, y2 = pool.map(run, ((0, j + 1), (j, n)))
    return np.concatenate([y1[: j * _HOP], y2])


def _convert_world(w: _World, model: VoiceModel, pitch_semitones: float, opts: Options) -> Audio:
    n = len(w.f0)
    loud = _loud_mask(w.power_db)
    voiced = w.f0 > 0

    # F0: log-domain mean/variance map from the base voice to the speaker (the utterance's own
    # statistics count as much as one second of the stored base-voice statistics).
    lf = np.log(w.f0[voiced])
    prior = 200.0
    s_mu = (lf.sum() + prior * model.src_lf0[0]) / (lf.size + prior)
    s_sd = float(np.sqrt((np.sum((lf - s_mu) ** 2) + prior * model.src_lf0[1] ** 2) / (lf.size + prior)))
    t_mu, t_sd = model.lf0
    shift = (model.pitch_offset + pitch_semitones) * np.log(2.0) / 12.0
    f0 = np.zeros(n)
    f0[voiced] = np.exp((lf - s_mu) / max(s_sd, 0.02) * t_sd + t_mu + shift)

    # Frame matching in the speaker's feature space, then unit selection.
    mapped = w.env.copy()
    mapped[:, 1:] = w.env[:, 1:] @ model.src_map.T + model.src_bias
    feats = _match_features(mapped, f0, model, opts)
    trees = _trees(model, opts)
    kc = opts.candidates
    cand = np.zeros((n, kc), dtype=np.int64)
    dist = np.zeros((n, kc))
    for flag in (True, False):
        rows = np.flatnonzero((voiced == flag) & loud)
        if rows.size == 0:
            continue
        tree, idx = trees[flag]
        kk = min(kc, len(idx))
        d, nb = tree.query(feats[rows], k=kk)
        d, nb = np.asarray(d).reshape(len(rows), kk), np.asarray(nb).reshape(len(rows), kk)
        cand[rows, :kk], dist[rows, :kk] = idx[nb], d
        if kk < kc:  # tiny reference: repeat the last neighbour
            cand[rows, kk:], dist[rows, kk:] = cand[rows, kk - 1:kk], dist[rows, kk - 1:kk]
    path = _viterbi(cand, dist, loud, opts, feats.shape[1])
    rows = np.flatnonzero(loud)
    env_out = w.env.copy()
    env_out[rows] = model.env[path[rows]]
    sp = pw.decode_spectral_envelope(np.ascontiguousarray(env_out), SAMPLE_RATE, FFT_SIZE)
    ap = np.full((n, FFT_SIZE // 2 + 1), 1.0 - 1e-6)
    vrows = np.flatnonzero(loud & voiced)
    if vrows.size:
        ap[vrows] = _decode_ap(model.ap[path[vrows]])

    # Level contour: source and chosen frames blended, modulation bands toward the speaker's.
    if rows.size:
        rel = _relative_levels(w.power_db, voiced & loud)
        anchor = w.power_db - rel
        nb_rel = np.zeros(n)
        nb_rel[rows] = model.rel_db[path[rows]]
        rel = (1.0 - opts.energy_ref) * rel + opts.energy_ref * nb_rel
        if opts.level_bands > 0 and rows.size > 10:
            contour = np.maximum(rel, LEVEL_FLOOR_DB)
            shaped = _reshape_bands(contour, loud, model.level_band_std, opts.band_max_gain, opts.level_bands)
            rel = np.where(loud, shaped, rel)
        gain_db = anchor + rel - 10.0 * np.log10(np.mean(sp, axis=1) + 1e-20)
        sp *= 10.0 ** (np.where(loud, gain_db, 0.0) / 10.0)[:, None]

    y = _synthesize(f0, sp, ap, 10.0 * np.log10(np.mean(sp, axis=1) + 1e-20))
    return _normalise(Audio(y.astype(np.float32), SAMPLE_RATE), model.loudness_lufs)


def _normalise(audio: Audio, target_lufs: float) -> Audio:
    """Gain to the target loudness, then keep peaks under -0.3 dBFS."""
    y = audio.samples
    lufs = _loudness(audio)
    if np.isfinite(lufs):
        y = y * np.float32(10.0 ** ((target_lufs - lufs) / 20.0))
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0.97:
        y = y * np.float32(0.97 / peak)
    return Audio(np.ascontiguousarray(y, dtype=np.float32), audio.sample_rate)


def _loudness(audio: Audio) -> float:
    import pyloudnorm

    if audio.duration_s < 0.5:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(pyloudnorm.Meter(audio.sample_rate).integrated_loudness(audio.samples.astype(np.float64)))


# ------------------------------------------------------------------ speaking


def voice_for(language: str, base_voice: str) -> str:
    """The espeak voice for `language` with the variant of `base_voice` ("en-us+f2" -> "de+f2")."""
    _, _, variant = base_voice.partition("+")
    return f"{language}+{variant}" if variant else language


def speak_as(text: str, model: VoiceModel, *, speed: float = 1.0, pitch_semitones: float = 0.0,
             language: str = "en-us", options: Options | None = None) -> Audio:
    """Speak `text` in the model's voice: espeak-ng (the model's variant on `language`, at
    `model.rate * speed`), then `convert`. Returns 16 kHz mono audio."""
    src = espeak.synthesize(text, voice_for(language, model.base_voice), speed=model.rate * speed)
    return convert(src, model, pitch_semitones, options=options)


# ------------------------------------------------------------------ analysis

# Sentences the base-voice candidates speak to be scored (the rainbow passage, never benchmark text).
CALIBRATION_SENTENCES = (
    "A rainbow is a division of white light into many beautiful colors.",
    "These take the shape of a long round arch, with its path high above.",
    "When the sunlight strikes raindrops in the air, they act as a prism and form a rainbow.",
    "Thus men have looked for the pot of gold at the end of the rainbow, yet none have found it.",
)
# Sentences the base voice speaks to fit its feature map (calibration plus Harvard sentences).
MAPPING_SENTENCES = CALIBRATION_SENTENCES + (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
)
# espeak voices tried as the base voice (male and female timbres of en-us).
CANDIDATE_VOICES = ("en-us+m3", "en-us+m7", "en-us+f2", "en-us+f3", "en-us+f5")


def _syllable_rate(x: np.ndarray) -> float:
    """Syllable nuclei per second of speech: peaks of the 300-2500 Hz energy envelope."""
    from scipy.signal import butter, find_peaks, sosfiltfilt

    sos = butter(4, [300, 2500], btype="band", fs=SAMPLE_RATE, output="sos")
    e = sosfiltfilt(sos, x) ** 2
    hop = SAMPLE_RATE // 100
    n = len(e) // hop
    if n < 10:
        return 0.0
    env = np.sqrt(e[: n * hop].reshape(n, hop).mean(axis=1))
    k = np.hanning(7)
    db = 20 * np.log10(np.convolve(env, k / k.sum(), mode="same") + 1e-9)
    active = db > np.percentile(db, 95) - 35
    peaks, _ = find_peaks(db, prominence=4.0, distance=8)
    speech_s = active.sum() * 0.01
    return float(active[peaks].sum() / speech_s) if speech_s > 0.3 else 0.0


@functools.lru_cache(maxsize=1)
def _espeak_syllable_rate() -> float:
    """espeak's own syllable rate at speed 1, measured with the same detector."""
    return _syllable_rate(np.concatenate([_as_signal(espeak.synthesize(s, "en-us")) for s in MAPPING_SENTENCES]))


def _chunks(x: np.ndarray) -> list[np.ndarray]:
    """Split a long signal into ~CHUNK_S pieces at its quietest 10 ms near each boundary."""
    size = int(CHUNK_S * SAMPLE_RATE)
    if len(x) <= 1.5 * size:
        return [x]
    hop = SAMPLE_RATE // 100
    rms = np.sqrt(np.convolve(x ** 2, np.ones(hop) / hop, mode="same")[::hop] + 1e-20)
    cuts, pos = [0], size
    while pos < len(x) - size // 2:
        lo, hi = (pos - 2 * SAMPLE_RATE) // hop, (pos + 2 * SAMPLE_RATE) // hop
        cut = (lo + int(np.argmin(rms[lo:hi]))) * hop
        cuts.append(cut)
        pos = cut + size
    cuts.append(len(x))
    return [x[a:b] for a, b in zip(cuts[:-1], cuts[1:]) if b - a > SAMPLE_RATE // 5]


def _fit_source_map(src_env: np.ndarray, src_voiced: np.ndarray, ref_env: np.ndarray, ref_voiced: np.ndarray,
                    opts: Options) -> tuple[np.ndarray, np.ndarray]:
    """Affine map base-voice cepstra -> speaker cepstra, INCA-style: start from the per-coefficient
    mean/variance map; then repeatedly pair frames with their nearest neighbours (both ways, voiced
    and unvoiced apart), fit a ridge regression on the pairs, and restore the speaker's variance."""
    from scipy.spatial import cKDTree

    # Every second frame is enough (5 ms frames are highly correlated) and halves the search time.
    src_env, src_voiced = src_env[::2], src_voiced[::2]
    ref_env, ref_voiced = ref_env[::2], ref_voiced[::2]
    xs, xr = src_env[:, 1:].astype(np.float64), ref_env[:, 1:].astype(np.float64)
    mu_r, sd_r = xr.mean(axis=0), xr.std(axis=0) + 1e-6
    scale = sd_r / (xs.std(axis=0) + 1e-6)
    M, c = np.diag(scale), mu_r - xs.mean(axis=0) * scale
    d = opts.match_dims
    yr = (xr - mu_r) / sd_r
    for _ in range(opts.inca_iterations):
        ys = (xs @ M.T + c - mu_r) / sd_r
        ps, pr = [], []
        for flag in (True, False):
            i_s, i_r = np.flatnonzero(src_voiced == flag), np.flatnonzero(ref_voiced == flag)
            if i_s.size < 5 or i_r.size < 5:
                continue
            _, nn = cKDTree(yr[i_r, :d]).query(ys[i_s, :d])
            ps += [i_s]
            pr += [i_r[nn]]
            _, nn = cKDTree(ys[i_s, :d]).query(yr[i_r, :d])
            ps += [i_s[nn]]
            pr += [i_r]
        if not ps:
            break
        ps, pr = np.concatenate(ps), np.concatenate(pr)
        X = np.hstack([xs[ps], np.ones((len(ps), 1))])
        reg = opts.inca_ridge * len(ps) * np.eye(X.shape[1])
        reg[-1, -1] = 0.0
        W = np.linalg.solve(X.T @ X + reg, X.T @ xr[pr])
        M, c = W[:-1].T, W[-1]
        out = xs @ M.T + c  # regression shrinks the variance: rescale to the speaker's
        M = M * (sd_r / (out.std(axis=0) + 1e-6))[:, None]
        c = mu_r - (xs @ M.T).mean(axis=0)
    return M, c


def _base_voice_fit(model: VoiceModel, voice: str, opts: Options) -> tuple[VoiceModel, list[_World]]:
    """`model` set up to convert from espeak `voice`; also returns the analysed calibration renders."""
    renders = [_as_signal(espeak.synthesize(s, voice, speed=model.rate))
               for s in MAPPING_SENTENCES[:max(opts.mapping_sentences, opts.scoring_sentences)]]
    ws = [_world(r, reference=False) for r in renders]
    keeps = [_loud_mask(w.power_db) for w in ws]
    src_env = np.concatenate([w.env[k] for w, k in zip(ws, keeps)])
    src_voiced = np.concatenate([w.f0[k] > 0 for w, k in zip(ws, keeps)])
    src_map, src_bias = _fit_source_map(src_env, src_voiced, model.env, model.voiced, opts)
    fitted = replace(model, base_voice=voice, src_map=src_map, src_bias=src_bias,
                     src_lf0=_lf0_stats(np.concatenate([w.f0 for w in ws])))
    return fitted, ws[:opts.scoring_sentences]


def _score(model: VoiceModel, renders: list[_World], opts: Options) -> float:
    """Similarity of the converted calibration renders to the references' speaker embedding."""
    embs = [speaker_embedding(_convert_world(w, model, 0.0, opts)) for w in renders]
    return similarity(mean_embedding(embs), model.reference_embedding)


def analyse(clips: list[Audio], progress: ProgressFn | None = None, *,
            candidates: tuple[str, ...] | None = None, options: Options | None = None) -> VoiceModel:
    """Build a VoiceModel from reference clips (mono speech, any rate, already cleaned).

    Tries each espeak voice of `candidates` (default CANDIDATE_VOICES) as the base voice and keeps
    the one whose conversion is closest to the references. Raises InputError if the clips hold
    less than MIN_VOICED_S seconds of voiced speech.
    """
    progress = progress or no_progress
    opts = options or DEFAULT_OPTIONS
    candidates = tuple(candidates or CANDIDATE_VOICES)
    for voice in candidates:
        espeak.check_voice(voice)
    if not clips:
        raise InputError("give at least one reference recording of the voice")
    steps = 3 + len(candidates) + len(PITCH_STEPS)
    progress(0, steps, "analysing the reference recordings")

    pieces, budget = [], int(MAX_REFERENCE_S * SAMPLE_RATE)
    for clip in clips:
        x = _as_signal(clip)[:budget]
        budget -= len(x)
        if x.size >= SAMPLE_RATE // 5:
            pieces.extend(_chunks(x))
    total_s = sum(len(p) for p in pieces) / SAMPLE_RATE
    if not pieces:
        raise InputError("the reference recordings are empty or too short (give 10 s to 2 min of clear speech)")
    with ThreadPoolExecutor(THREADS) as pool:
        worlds = list(pool.map(lambda p: _world(p, reference=True), pieces))
    progress(1, steps, "measuring the voice")

    envs, aps, vflags, f0s, rels = [], [], [], [], []
    band_power, band_count = np.zeros(len(BAND_WINDOWS) + 1), 0
    for w in worlds:
        keep = _loud_mask(w.power_db)
        v = w.f0 > 0
        rel = _relative_levels(w.power_db, v & keep)
        envs.append(w.env[keep])
        aps.append(_code_ap(w.ap[keep]))
        vflags.append(v[keep])
        f0s.append(w.f0[keep])
        rels.append(rel[keep])
        band_power += [float(np.sum(b[keep] ** 2)) for b in _bands(np.maximum(rel, LEVEL_FLOOR_DB))]
        band_count += int(keep.sum())
    voiced = np.concatenate(vflags)
    voiced_s = voiced.sum() * FRAME_MS / 1000.0
    if voiced_s < MIN_VOICED_S:
        raise InputError(
            f"not enough voiced speech in the reference recordings: {voiced_s:.1f} s found, "
            f"at least {MIN_VOICED_S:.0f} s needed (10 s to 2 min of clear speech works best)")
    env = np.concatenate(envs).astype(np.float32)
    f0 = np.concatenate(f0s)
    signal = np.concatenate(pieces)
    ref_rate = _syllable_rate(signal)
    espeak_rate = _espeak_syllable_rate()
    rate = float(np.clip(ref_rate / espeak_rate, 0.7, 1.4)) if ref_rate > 0 and espeak_rate > 0 else 1.0
    loudness = _loudness(Audio(signal.astype(np.float32), SAMPLE_RATE))
    loudness = float(np.clip(loudness, -30.0, -14.0)) if np.isfinite(loudness) else -20.0
    with ThreadPoolExecutor(THREADS) as pool:
        ref_embs = list(pool.map(lambda p: speaker_embedding(Audio(p.astype(np.float32), SAMPLE_RATE)), pieces))
    progress(2, steps, "trying base voices")

    dims = ENV_DIMS - 1
    base = VoiceModel(
        base_voice=candidates[0], rate=rate, stats={}, env=env, ap=np.concatenate(aps).astype(np.float32),
        voiced=voiced, f0=f0.astype(np.float32), rel_db=np.concatenate(rels).astype(np.float32),
        feat_mean=env[:, 1:].mean(axis=0), feat_std=env[:, 1:].std(axis=0) + 1e-6,
        src_map=np.eye(dims), src_bias=np.zeros(dims),
        level_band_std=np.sqrt(band_power / max(band_count, 1)),
        reference_embedding=mean_embedding(ref_embs).astype(np.float32),
        lf0=_lf0_stats(f0), loudness_lufs=loudness)

    done = [2]

    def trial(voice: str) -> tuple[float, VoiceModel, list[_World]]:
        fitted, renders = _base_voice_fit(base, voice, opts)
        score = _score(fitted, renders, opts)
        done[0] += 1
        progress(done[0], steps, f"base voice {voice}: {score:.3f}")
        log.info("base voice %s: similarity %.3f", voice, score)
        return score, fitted, renders

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(trial, candidates))
    best_score, best, renders = max(results, key=lambda r: r[0])

    # Pitch offset: step up, else down, while the score improves.
    for direction in (1.0, -1.0):
        improved = False
        for step in PITCH_STEPS:
            shifted = replace(best, pitch_offset=direction * step)
            score = _score(shifted, renders, opts)
            log.info("pitch offset %+.1f: similarity %.3f", direction * step, score)
            if score <= best_score:
                break
            best_score, best, improved = score, shifted, True
        if improved:
            break
    progress(steps - 1, steps, "voice model ready")

    best.stats = {
        "f0_median_hz": round(float(np.median(f0[f0 > 0])), 1),
        "f0_range_hz": [round(float(v), 1) for v in np.percentile(f0[f0 > 0], [5, 95])],
        "speaking_rate_sps": round(ref_rate, 2),
        "loudness_lufs": round(loudness, 1),
        "n_frames": int(len(env)),
        "reference_seconds": round(total_s, 2),
        "voiced_seconds": round(float(voiced_s), 2),
        "base_voice_scores": {voice: round(float(s), 3) for (s, _, _), voice in zip(results, candidates)},
        "pitch_offset_semitones": best.pitch_offset,
        "similarity_to_reference": round(float(best_score), 3),
    }
    progress(steps, steps, "voice model ready")
    return best
