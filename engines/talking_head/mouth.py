"""Speech -> per-frame mouth parameters.

Opening follows the loudness of the voice band (100 Hz - 4 kHz) above a noise gate, shaped by the
first formant (open vowels open wider) and damped on fricatives and nasal murmurs (lips near-closed
on s/f, closed on m). Lip shape follows the second formant: low F2 (o, u) rounds the lips, high F2
(ee, i) spreads them. Tracks are smoothed for coarticulation (fast attack, slower release, a small
anticipatory lead) and are exactly zero in silence so the mouth rests closed without quivering.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from core.audio import Audio

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # analysis rate, Hz
HOP_S = 0.010  # analysis hop, seconds
WIN = 512  # STFT window, samples at SAMPLE_RATE (32 ms)
LEAD_S = 0.035  # lips move slightly before the sound they make
SILENT_PEAK_DBFS = -55.0  # audio whose loudest 10 ms stays below this counts as silent
CLOSURE_HOPS = 3  # pauses at least this many hops long (30 ms after the window's smear) close the lips


@dataclass(frozen=True)
class MouthTrack:
    # Frames per second of every array below.
    fps: int
    # (n,) mouth opening 0 (closed) .. 1 (wide open for this speaker's loud open vowels).
    open: np.ndarray
    # (n,) lip shape -1 (rounded: o, u) .. +1 (spread: ee, i); 0 = neutral.
    shape: np.ndarray
    # (n,) speech present in the frame.
    active: np.ndarray
    # (n,) loudness of the voice band in dB (relative), for speech-coupled head motion.
    level: np.ndarray
    # True when the audio holds no speech at all.
    silent: bool
    # Loudest 10 ms of the audio, dBFS.
    peak_dbfs: float


def _frames(x: np.ndarray, hop: int, win: int) -> np.ndarray:
    pad = np.pad(x, (win // 2, win // 2 + hop))
    n = 1 + (len(pad) - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    return pad[idx]


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(x, sigma, mode="nearest") if sigma > 0 else x


def _attack_release(x: np.ndarray, attack: float, release: float) -> np.ndarray:
    """One-pole follower: coefficient `attack` when rising, `release` when falling (per hop, 0..1)."""
    y = np.empty_like(x)
    acc = 0.0
    for i, v in enumerate(x):
        acc += (attack if v > acc else release) * (v - acc)
        y[i] = acc
    return y


def _formants(frames: np.ndarray, rate: int, order: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """F1, F2 in Hz per frame from LPC roots (NaN where none is found). `frames` are windowed."""
    n, win = frames.shape
    x = np.concatenate([frames[:, :1], frames[:, 1:] - 0.63 * frames[:, :-1]], axis=1)  # pre-emphasis
    spec = np.fft.rfft(x, 2 * win, axis=1)
    r = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, : order + 1]
    r[:, 0] *= 1.0 + 1e-6
    f1 = np.full(n, np.nan)
    f2 = np.full(n, np.nan)
    ok = r[:, 0] > 1e-10
    # Levinson-Durbin, vectorised over frames.
    a = np.zeros((n, order + 1))
    a[:, 0] = 1.0
    err = r[:, 0].copy()
    err[~ok] = 1.0
    for i in range(1, order + 1):
        acc = r[:, i] + np.einsum("nj,nj->n", a[:, 1:i], r[:, i - 1:0:-1]) if i > 1 else r[:, i].copy()
        k = -acc / err
        a_prev = a.copy()
        a[:, i] = k
        if i > 1:
            a[:, 1:i] = a_prev[:, 1:i] + k[:, None] * a_prev[:, i - 1:0:-1]
        err = err * (1.0 - k * k)
        err[err <= 1e-12] = 1e-12
    # Roots of every polynomial at once: eigenvalues of the companion matrices.
    comp = np.zeros((n, order, order))
    comp[:, 0, :] = -a[:, 1:]
    comp[:, np.arange(1, order), np.arange(order - 1)] = 1.0
    roots = np.linalg.eigvals(comp[ok])
    freqs = np.angle(roots) * rate / (2 * np.pi)
    bw = -np.log(np.maximum(np.abs(roots), 1e-9)) * rate / np.pi
    good = (roots.imag > 0) & (freqs > 150) & (freqs < rate / 2 - 200) & (bw < 500)
    freqs = np.where(good, freqs, np.inf)
    freqs.sort(axis=1)
    idx = np.flatnonzero(ok)
    cand1 = freqs[:, 0]
    cand2 = freqs[:, 1]
    f1[idx] = np.where(np.isfinite(cand1) & (cand1 < 1100), cand1, np.nan)
    f2[idx] = np.where(np.isfinite(cand2) & (cand2 > 600) & (cand2 < 3200), cand2, np.nan)
    return f1, f2


def analyse_speech(audio: Audio, fps: int, n_frames: int) -> MouthTrack:
    """Per-video-frame mouth parameters for `audio` at `fps` frames per second (`n_frames` frames)."""
    from scipy.signal import resample_poly

    mono = audio.mono()
    x = mono.samples.astype(np.float64)
    if mono.sample_rate != SAMPLE_RATE:
        g = np.gcd(SAMPLE_RATE, mono.sample_rate)
        x = resample_poly(x, SAMPLE_RATE // g, mono.sample_rate // g)
    hop = int(SAMPLE_RATE * HOP_S)
    frames = _frames(x, hop, WIN)
    n = frames.shape[0]
    window = np.hanning(WIN)
    spec = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    freqs = np.fft.rfftfreq(WIN, 1.0 / SAMPLE_RATE)

    def band(lo: float, hi: float) -> np.ndarray:
        sel = (freqs >= lo) & (freqs < hi)
        return spec[:, sel].sum(axis=1)

    voice = band(100, 4000)
    low = band(60, 400)
    high = band(4000, 8000)
    eps = 1e-12
    scale = float(window.sum() ** 2) / 2.0
    db = 10 * np.log10(voice / scale + eps)
    rms_db = 10 * np.log10((frames[:, hop // 2: hop // 2 + hop] ** 2).mean(axis=1) + eps)
    peak_dbfs = float(rms_db.max()) if n else -120.0

    silent = peak_dbfs < SILENT_PEAK_DBFS
    if silent:
        zeros = np.zeros(n_frames, np.float32)
        return MouthTrack(fps, zeros, zeros.copy(), np.zeros(n_frames, bool), np.full(n_frames, -120.0, np.float32),
                          True, peak_dbfs)

    # ---- noise gate with hysteresis: threshold relative to the speech level and the noise floor
    loud = float(np.percentile(db, 97))
    floor = float(np.percentile(db, 8))
    # (Speech without pauses has no noise floor to see: the gate then never sits higher than
    # 12 dB under the loud level.)
    thr = min(max(floor + 9.0, loud - 38.0), loud - 12.0)
    on, off = thr + 3.0, thr
    active = np.zeros(n, bool)
    state = False
    for i, v in enumerate(db):
        state = v > on if not state else v > off
        active[i] = state
    active = _drop_short(active, min_len=3)  # blips shorter than 30 ms are not speech

    # ---- opening: loudness above the gate, shaped by F1, damped on fricatives and nasal murmurs
    span = max(loud - thr, 6.0)
    level = np.clip((db - thr) / span, 0.0, 1.0)
    f1, f2 = _formants(frames * np.hamming(WIN), SAMPLE_RATE)
    f1 = _fill(f1, active, 500.0)
    f2 = _fill(f2, active, 1500.0)
    f1n = np.clip((f1 - 250.0) / 450.0, 0.0, 1.0)
    openness = level ** 1.2 * (0.6 + 0.4 * f1n)
    fric = high / (voice + high + eps)
    nasal = low / (voice + eps)
    openness *= 1.0 - 0.6 * np.clip((fric - 0.45) / 0.3, 0.0, 1.0)
    quiet = np.clip((loud - 8.0 - db) / 10.0, 0.0, 1.0)
    openness *= 1.0 - 0.8 * np.clip((nasal - 0.55) / 0.3, 0.0, 1.0) * quiet
    openness[~active] = 0.0

    # ---- lip shape from F2, normalised to this speaker (median F2 of voiced frames = neutral)
    voiced = active & np.isfinite(f2)
    if voiced.sum() >= 5:
        # Neutral F2 (a schwa) is ~1500 Hz for men, ~1700 for women: the speaker's median, kept in range.
        mid = float(np.clip(np.median(f2[voiced]), 1350.0, 1750.0))
        shape = np.clip((f2 - mid) / 550.0, -1.0, 1.0)
        shape[~voiced] = 0.0
    else:
        shape = np.zeros(n)
    shape *= np.clip(openness / 0.15, 0.0, 1.0) * 0.5 + 0.5 * active  # weaker on near-silent frames

    # ---- coarticulation: fast attack, slower release; shape blends over ~80 ms both ways
    openness = _attack_release(openness, attack=0.55, release=0.35)
    openness = _smooth(openness, 1.0)
    # Lips meet on every pause inside speech (the closure of b, p, m and the gaps between words).
    closed = np.zeros(n, bool)
    for start, stop in _runs(~active):
        if stop - start >= CLOSURE_HOPS:
            closed[start:stop] = True
            openness[start + 1:stop - 1] = 0.0
    shape = _smooth(shape, 4.0)
    level_db = _smooth(db, 3.0)

    # ---- resample to video frames (frame k shows time (k + 0.5) / fps, minus the lead)
    t_hop = np.arange(n) * HOP_S
    t_frame = (np.arange(n_frames) + 0.5) / fps + LEAD_S
    o = np.interp(t_frame, t_hop, openness)
    s = np.interp(t_frame, t_hop, shape)
    lv = np.interp(t_frame, t_hop, level_db)
    # A frame is speech if any analysis hop within it (and the lead) is; a frame whose centre is
    # within 10 ms of a pause shows the lips closed, so even a short b/p/m closure gets its frame.
    act_frame = np.zeros(n_frames, bool)
    for k in range(n_frames):
        a0 = int(((k) / fps + LEAD_S - 0.02) / HOP_S)
        a1 = int(((k + 1) / fps + LEAD_S + 0.02) / HOP_S) + 1
        act_frame[k] = bool(active[max(a0, 0):min(a1, n)].any()) if a0 < n else False
        c = int(round(t_frame[k] / HOP_S))
        if closed[max(c - 1, 0):min(c + 2, n)].any():
            o[k] = 0.0
    o[~act_frame] = 0.0
    s[~act_frame] = 0.0
    o[o < 0.02] = 0.0
    return MouthTrack(fps, o.astype(np.float32), np.clip(s, -1, 1).astype(np.float32), act_frame,
                      lv.astype(np.float32), False, peak_dbfs)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of every run of True in `mask`."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _drop_short(mask: np.ndarray, min_len: int) -> np.ndarray:
    out = mask.copy()
    i, n = 0, len(mask)
    while i < n:
        if mask[i]:
            j = i
            while j < n and mask[j]:
                j += 1
            if j - i < min_len:
                out[i:j] = False
            i = j
        else:
            i += 1
    return out


def _fill(track: np.ndarray, active: np.ndarray, default: float) -> np.ndarray:
    """Bridge NaN gaps by interpolation between neighbouring valid values; `default` where none is valid."""
    ok = np.isfinite(track) & active
    if not ok.any():
        return np.full_like(track, default)
    idx = np.arange(len(track))
    return np.interp(idx, idx[ok], track[ok])
