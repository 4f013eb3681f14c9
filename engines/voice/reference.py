"""Reference clips for voice cloning: checked (length, silence, speech rather than music)
and cleaned (silence trimmed, long pauses shortened, noise reduced, loudness normalised)."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from engines.audio import Audio
from engines.errors import InputError

log = logging.getLogger(__name__)

WORK_RATE = 16_000
# One clip: at least this long before cleaning, and at most this long (seconds).
MIN_CLIP_S = 1.0
MAX_CLIP_S = 120.0
# All clips of a profile together: at least this much speech after cleaning (seconds).
MIN_SPEECH_S = 3.0
# Loudness the cleaned reference is normalised to (LUFS).
REFERENCE_LUFS = -23.0
# Below this peak level (dBFS) a clip counts as silent.
SILENT_DBFS = -50.0
# Speech is voiced 25-55 % of the time with short voiced runs; music holds tones far longer.
MAX_VOICED_FRACTION = 0.68
MAX_VOICED_RUN_P90_S = 0.8
# The music check needs enough material to judge (seconds, and voiced runs).
MUSIC_CHECK_MIN_S = 3.0
MUSIC_CHECK_MIN_RUNS = 8

_HOP = 160  # 10 ms at 16 kHz


@dataclass(frozen=True)
class ClipReport:
    """What the checks measured on one clip (kept with the profile)."""

    name: str
    seconds: float
    speech_seconds: float
    voiced_fraction: float
    snr_db: float
    denoised: bool


def _frame_db(y: np.ndarray) -> np.ndarray:
    if len(y) < 400:
        return np.array([-120.0])
    frames = np.lib.stride_tricks.sliding_window_view(y, 400)[::_HOP]
    return 10 * np.log10((frames.astype(np.float64) ** 2).mean(axis=1) + 1e-12)


def _voicing(y: np.ndarray) -> tuple[float, float, int]:
    """(voiced fraction of active time, 90th percentile of voiced-run length in seconds, number of runs)."""
    import pyworld

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f0, _ = pyworld.dio(y.astype(np.float64), WORK_RATE, frame_period=10.0)
    voiced = f0 > 0
    edges = np.diff(np.concatenate([[0], voiced.astype(np.int8), [0]]))
    runs = (np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)) * 0.01
    db = _frame_db(y)
    active = max(int(np.sum(db > db.max() - 40)), 1)
    frac = float(voiced[: len(db)].sum() / active) if len(db) else 0.0
    return min(frac, 1.0), float(np.percentile(runs, 90)) if len(runs) else 0.0, len(runs)


def prepare(clip: Audio, name: str = "reference") -> tuple[Audio, ClipReport]:
    """Check one clip and return it cleaned, mono at 16 kHz. Raises InputError saying what is wrong."""
    audio = clip.mono().resampled(WORK_RATE)
    y = np.nan_to_num(audio.samples.astype(np.float32))
    seconds = len(y) / WORK_RATE
    if seconds < MIN_CLIP_S:
        raise InputError(
            f"'{name}' is {seconds:.1f} s long; a reference needs at least {MIN_SPEECH_S:.0f} s of speech "
            f"(3 s to 2 min per clip works best)"
        )
    if seconds > MAX_CLIP_S:
        raise InputError(
            f"'{name}' is {seconds / 60:.1f} min long; reference clips may be at most {MAX_CLIP_S / 60:.0f} min. "
            "Cut a 10-60 s stretch of clear speech (several clips are welcome)."
        )
    peak_db = 20 * np.log10(float(np.max(np.abs(y))) + 1e-12)
    if peak_db < SILENT_DBFS:
        raise InputError(f"'{name}' is silent (peak {peak_db:.0f} dBFS); record the person speaking")

    y = _trim(y)
    voiced_fraction, run_p90, runs = _voicing(y)
    if voiced_fraction < 0.05:
        raise InputError(f"'{name}' has no voiced speech (it sounds like noise); record the person speaking")
    judged = len(y) / WORK_RATE >= MUSIC_CHECK_MIN_S and runs >= MUSIC_CHECK_MIN_RUNS
    if judged and (voiced_fraction > MAX_VOICED_FRACTION or run_p90 > MAX_VOICED_RUN_P90_S):
        raise InputError(
            f"'{name}' does not sound like speech: it holds long steady tones like music or singing "
            f"(voiced {voiced_fraction:.0%} of the time, in runs up to {run_p90:.1f} s; speech is about "
            "25-55 % in short runs). Upload the person speaking, without music."
        )

    snr = _snr_db(y)
    denoised = snr < 20.0  # only clearly noisy clips: denoising clean speech costs timbre
    if denoised:
        y = _denoise(y)
    y = _shorten_pauses(y)
    y = _normalise(y)
    speech_s = len(y) / WORK_RATE
    report = ClipReport(name, round(seconds, 2), round(speech_s, 2), round(voiced_fraction, 3), round(snr, 1), denoised)
    return Audio(y.astype(np.float32), WORK_RATE), report


def prepare_all(clips: list[tuple[Audio, str]]) -> tuple[list[Audio], list[ClipReport]]:
    if not clips:
        raise InputError("no reference audio was given; upload or record 3 s to 2 min of the person speaking")
    cleaned, reports = [], []
    for audio, name in clips:
        a, r = prepare(audio, name)
        cleaned.append(a)
        reports.append(r)
    total = sum(r.speech_seconds for r in reports)
    if total < MIN_SPEECH_S:
        raise InputError(
            f"the reference holds {total:.1f} s of speech after trimming silence; at least {MIN_SPEECH_S:.0f} s "
            "is needed (10-60 s gives a closer voice)"
        )
    return cleaned, reports


def _trim(y: np.ndarray) -> np.ndarray:
    db = _frame_db(y)
    on = np.flatnonzero(db > db.max() - 40)
    if len(on) == 0:
        return y
    start = max(0, on[0] * _HOP - int(0.05 * WORK_RATE))
    end = min(len(y), on[-1] * _HOP + 400 + int(0.1 * WORK_RATE))
    return y[start:end]


def _snr_db(y: np.ndarray) -> float:
    db = _frame_db(y)
    return float(np.percentile(db, 95) - np.percentile(db, 10))


def _denoise(y: np.ndarray) -> np.ndarray:
    import noisereduce

    return noisereduce.reduce_noise(y=y, sr=WORK_RATE, stationary=True, prop_decrease=0.8).astype(np.float32)


def _shorten_pauses(y: np.ndarray, longest_s: float = 0.4, keep_s: float = 0.25) -> np.ndarray:
    """Pauses longer than `longest_s` become `keep_s`, so the profile is made of speech."""
    db = _frame_db(y)
    quiet = db < np.percentile(db, 95) - 35
    keep = np.ones(len(y), bool)
    edges = np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]]))
    for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        if (e - s) * 0.01 > longest_s:
            cut_from = s * _HOP + int(keep_s / 2 * WORK_RATE)
            cut_to = e * _HOP - int(keep_s / 2 * WORK_RATE)
            keep[cut_from:cut_to] = False
    return y[keep]


def _normalise(y: np.ndarray) -> np.ndarray:
    import pyloudnorm

    meter = pyloudnorm.Meter(WORK_RATE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loudness = meter.integrated_loudness(y.astype(np.float64))
    if np.isfinite(loudness):
        y = y * (10 ** ((REFERENCE_LUFS - loudness) / 20))
    peak = float(np.max(np.abs(y)))
    return y / peak * 0.98 if peak > 0.98 else y
