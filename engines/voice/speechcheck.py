"""Is a reference clip speech, or music / singing?  `classify(y, sample_rate)` -> dict.

Measured on real speech (13 speakers: read English at 8-48 kHz, studio and home recordings,
German, spoken digits; every file and every speaker's files joined: 0 of 90 refused) and real
music and singing (21 instrumental clips from rock to tabla, 9 sung: opera with orchestra, metal,
pop, a cappella choir and solo: all refused). Each threshold sits midway between the most
music-like speech and the nearest clip that only that test refuses; tests/data/nonspeech holds
some of those clips.

Four measurements, each a property that ordinary speech has and music or singing lacks.
A clip is refused when any one of them falls on the music side of its threshold:

1. voice_in_loud   Share of the loudest 30 % of the sound that carries a speaking-voice pitch
                   (periodic, 70-500 Hz).  In speech the loudest moments are vowels; in drum
                   tracks, distorted guitars, synthesisers or high singing they are not.
2. syllable_db     How much the loudness swings at the syllable rate (2-8 Hz), in dB (median
                   over six frequency bands).  Speech rises and falls with every syllable;
                   sustained music and most singing keep a steady level.
3. held_notes      Share of voiced time spent on held notes: for at least a third of a second
                   the pitch stays within 0.6 semitone (vibrato averaged out) AND the sound
                   colour (spectral envelope) stays the same: one note on one vowel.  Speech
                   pitch glides and its vowels change from syllable to syllable; sung and
                   played notes hold.
4. beat            Regularity of the onsets (autocorrelation at a steady tempo and its
                   multiples, 0.25-1.5 s).  Loops and rhythmic music repeat at a fixed tempo;
                   speech does not.

No speech recogniser is used: Whisper base heard words in 8 of 9 singing clips, and none in 2 of 15
groups of real spoken digits, so words found cannot tell speech from singing.

Clips with less than MIN_JUDGED_S (2 s) of sound between the first and last loud frame are not judged
(speech: True, judged: False): too little to tell.
Numpy and scipy only.
"""

from __future__ import annotations

from math import gcd

import numpy as np

SAMPLE_RATE = 16_000
HOP = 160  # 10 ms frames
WIN = 512  # 32 ms spectrum window
# Sound shorter than this (after trimming silence) is not judged.
MIN_JUDGED_S = 2.0

# Thresholds. Each sits midway between the most music-like real speech and the nearest music/singing clip that
# only this test refuses.
MIN_VOICE_IN_LOUD = 0.67
MIN_SYLLABLE_DB = 4.2
MAX_HELD_NOTES = 0.08
MAX_BEAT = 0.53

_BANDS = (100, 250, 500, 1000, 2000, 4000, 7600)
_VOICE_F0 = (70.0, 500.0)


def classify(y: np.ndarray, sample_rate: int) -> dict:
    """Speech or not.  Returns {"speech": bool, "judged": bool, "reason": str, <figures>}."""
    y = _mono16k(y, sample_rate)
    spec = _power_spectrogram(y)
    freqs = np.fft.rfftfreq(WIN, 1 / SAMPLE_RATE)
    db = 10 * np.log10(spec[:, (freqs >= 80) & (freqs <= 7600)].sum(1) + 1e-12)
    ref = float(np.percentile(db, 95))
    active = db > ref - 35
    on = np.flatnonzero(active)
    sound_s = (on[-1] - on[0] + 1) / 100 if len(on) else 0.0
    out: dict = {"speech": True, "judged": False, "sound_s": round(float(sound_s), 2)}
    if ref < -90:
        out["reason"] = "not judged: the clip is silent"
        return out
    if sound_s < MIN_JUDGED_S:
        out["reason"] = (f"not judged: only {sound_s:.1f} s of sound "
                         f"(at least {MIN_JUDGED_S:.0f} s is needed to tell speech from music)")
        return out
    seg = slice(on[0], on[-1] + 1)
    f0, ap = _yin(y)
    n = len(db)
    f0 = np.pad(f0, (0, max(0, n - len(f0))))[:n]
    ap = np.pad(ap, (0, max(0, n - len(ap))), constant_values=1.0)[:n]

    bands = _band_db(spec[seg], freqs)
    figures = {
        "voice_in_loud": _voice_in_loud(db, active, f0, ap),
        "syllable_db": _syllable_db(bands),
        "held_notes": _held_notes(f0[seg], ap[seg], active[seg], _mel_cepstra(spec[seg], freqs)),
        "beat": _beat(bands),
    }
    out.update({k: round(v, 3) for k, v in figures.items()})
    out["judged"] = True

    fails = []
    if figures["voice_in_loud"] < MIN_VOICE_IN_LOUD:
        fails.append(f"its loudest parts are not a speaking voice (only {figures['voice_in_loud']:.0%} of them have "
                     f"a voice pitch; speech has over {MIN_VOICE_IN_LOUD:.0%})")
    if figures["syllable_db"] < MIN_SYLLABLE_DB:
        fails.append(f"its loudness does not rise and fall with syllables (swing {figures['syllable_db']:.1f} dB; "
                     f"speech swings over {MIN_SYLLABLE_DB:.1f} dB)")
    if figures["held_notes"] > MAX_HELD_NOTES:
        fails.append(f"it holds steady notes ({figures['held_notes']:.0%} of the voiced time; speech stays under "
                     f"{MAX_HELD_NOTES:.0%})")
    if figures["beat"] > MAX_BEAT:
        fails.append(f"it has a steady beat (regularity {figures['beat']:.2f}; speech stays under {MAX_BEAT:.2f})")
    if fails:
        out["speech"] = False
        out["reason"] = "does not sound like speech (it sounds like music or singing): " + "; ".join(fails)
    else:
        out["reason"] = "speech"
    return out


# --- signal helpers -------------------------------------------------------------------------

def _mono16k(y: np.ndarray, sr: int) -> np.ndarray:
    from scipy.signal import resample_poly

    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2:  # (samples, channels) as soundfile gives, or (channels, samples)
        y = y.mean(axis=1) if y.shape[0] >= y.shape[1] else y.mean(axis=0)
    y = np.nan_to_num(y)
    if sr != SAMPLE_RATE:
        g = gcd(int(sr), SAMPLE_RATE)
        y = resample_poly(y, SAMPLE_RATE // g, int(sr) // g)
    return y


def _power_spectrogram(y: np.ndarray) -> np.ndarray:
    if len(y) < WIN:
        y = np.pad(y, (0, WIN - len(y)))
    frames = np.lib.stride_tricks.sliding_window_view(y, WIN)[::HOP]
    X = np.fft.rfft(frames * np.hanning(WIN), axis=1)
    return X.real ** 2 + X.imag ** 2


def _band_db(spec: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Six band levels in dB per frame, each floored 45 dB under its own maximum."""
    bands = np.array([10 * np.log10(spec[:, (freqs >= lo) & (freqs < hi)].sum(1) + 1e-12)
                      for lo, hi in zip(_BANDS[:-1], _BANDS[1:])])
    return np.maximum(bands, bands.max(axis=1, keepdims=True) - 45)


def _bandpass(x: np.ndarray, lo: float, hi: float, rate: float = 100.0) -> np.ndarray:
    X = np.fft.rfft(x - x.mean())
    f = np.fft.rfftfreq(len(x), 1 / rate)
    X[(f < lo) | (f > hi)] = 0
    return np.fft.irfft(X, len(x))


def _syllable_db(bands: np.ndarray) -> float:
    return float(np.median([_bandpass(b, 2.0, 8.0).std() for b in bands]))


def _voice_in_loud(db, active, f0, ap) -> float:
    loud = active & (db >= np.percentile(db[active], 70))
    voice = (ap < 0.35) & (f0 >= _VOICE_F0[0]) & (f0 <= _VOICE_F0[1])
    return float(voice[loud].mean()) if loud.any() else 0.0


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(e == 1), np.flatnonzero(e == -1)


def _mel_cepstra(spec: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Spectral-envelope shape per frame: mel cepstra c1..c12 (c0, the level, left out), 100-3800 Hz."""
    from scipy.fft import dct

    global _MEL
    if _MEL is None or _MEL.shape[1] != len(freqs):
        mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
        edges = 700 * (10 ** (np.linspace(mel(100), mel(3800), 26) / 2595) - 1)
        _MEL = np.array([np.clip(np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)), 0, None)
                         for lo, c, hi in zip(edges[:-2], edges[1:-1], edges[2:])])
    return dct(np.log(spec @ _MEL.T + 1e-10), type=2, norm="ortho", axis=1)[:, 1:13]


_MEL = None


def _held_notes(f0, ap, active, ceps, smooth=15, window=20, tol=0.6, colour_tol=3.5) -> float:
    """Share of voiced time on held notes: for at least (smooth + window) frames (~0.34 s) the pitch,
    averaged over `smooth` frames to remove vibrato, stays within `tol` semitones AND the sound
    colour (mel cepstra) stays steady (RMS spread under `colour_tol`): one note on one vowel."""
    voiced = (ap < 0.25) & active
    semi = 12 * np.log2(np.maximum(f0, 1.0) / 55.0)
    held = np.zeros(len(semi), bool)
    span = smooth + window - 1
    # running sums for the colour spread of every span-long stretch
    c = np.concatenate([np.zeros((1, ceps.shape[1])), np.cumsum(ceps, axis=0)])
    c2 = np.concatenate([[0.0], np.cumsum((ceps ** 2).sum(1))])
    for s, e in zip(*_runs(voiced)):
        if e - s < span:
            continue
        sm = np.convolve(semi[s:e], np.ones(smooth) / smooth, mode="valid")  # averages out vibrato
        w = np.lib.stride_tricks.sliding_window_view(sm, window)
        starts = s + np.flatnonzero(w.max(1) - w.min(1) < tol)
        if not len(starts):
            continue
        mean = (c[starts + span] - c[starts]) / span
        spread = np.sqrt(np.maximum((c2[starts + span] - c2[starts]) / span - (mean ** 2).sum(1), 0))
        for i in starts[spread < colour_tol]:
            held[i: i + span] = True
    return float(held.sum() / max(voiced.sum(), 1))


def _beat(bands: np.ndarray, lo=25, hi=150, multiples=3) -> float:
    onset = np.maximum(np.diff(bands, axis=1), 0).sum(0)
    onset = onset - onset.mean()
    n = len(onset)
    if n < 2 * lo * multiples:
        return 0.0
    F = np.fft.rfft(onset, 2 * n)
    ac = np.fft.irfft(F.real ** 2 + F.imag ** 2)[:n]
    ac = ac / (ac[0] + 1e-12)
    best = 0.0
    for T in range(lo, min(hi, (n - 2) // multiples)):
        best = max(best, float(np.mean([ac[k * T - 1: k * T + 2].max() for k in range(1, multiples + 1)])))
    return best


def _yin(y: np.ndarray, fmin=60.0, fmax=1000.0, thr=0.15) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised YIN on the 50-1500 Hz band at 8 kHz: (f0 in Hz, aperiodicity 0..1) per 10 ms frame,
    40 ms windows.  Aperiodicity near 0 = clearly periodic (voice, note), near 1 = noise."""
    from scipy.signal import butter, resample_poly, sosfiltfilt

    sr, hop, W, nfft = 8000, 80, 320, 512
    y = resample_poly(y, 1, 2)
    if len(y) > 50:
        y = sosfiltfilt(butter(4, (50, 1500), "bandpass", fs=sr, output="sos"), y)
    if len(y) < W:
        y = np.pad(y, (0, W - len(y)))
    frames = np.lib.stride_tricks.sliding_window_view(y, W)[::hop]
    starts = np.arange(len(frames)) * hop
    tmin, tmax = int(sr / fmax), int(sr / fmin) + 1
    X = np.fft.rfft(frames, nfft, axis=1)
    r = np.fft.irfft(X.real ** 2 + X.imag ** 2, nfft, axis=1)[:, : tmax + 2]
    cs = np.concatenate([[0.0], np.cumsum(y * y)])
    tau = np.arange(tmax + 2)
    # squared difference d(tau) = sum_{j < W - tau} (x_j - x_{j + tau})^2 = head + tail - 2 r(tau)
    head = cs[starts[:, None] + W - tau] - cs[starts[:, None]]
    tail = cs[starts[:, None] + W] - cs[starts[:, None] + tau]
    d = head + tail - 2 * r
    d[:, 0] = 0
    cum = np.cumsum(d[:, 1:], axis=1)
    dn = np.ones_like(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        dn[:, 1:] = d[:, 1:] * tau[1:] / np.maximum(cum, 1e-20)
    seg = dn[:, tmin: tmax + 1]
    below = seg < thr
    k = np.where(below.any(axis=1), below.argmax(axis=1), seg.argmin(axis=1))
    rows = np.arange(len(seg))
    for _ in range(25):  # walk down to the local minimum
        nxt = np.minimum(k + 1, seg.shape[1] - 1)
        step = seg[rows, nxt] < seg[rows, k]
        if not step.any():
            break
        k = np.where(step, nxt, k)
    ap = seg[rows, k]
    silent = (cs[starts + W] - cs[starts]) < 1e-10 * W
    ap = np.where(silent | ~np.isfinite(ap), 1.0, ap)
    km = np.clip(k, 1, seg.shape[1] - 2)
    a, b, c = seg[rows, km - 1], seg[rows, km], seg[rows, km + 1]
    den = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(np.abs(den) > 1e-12, 0.5 * (a - c) / den, 0.0)
    off = np.clip(np.nan_to_num(off), -1, 1)
    return sr / (tmin + km + off), np.clip(ap, 0, 1)
