"""What the picture moves to: beats, onsets, loudness and band energies of a soundtrack, per video frame.

`analyse_audio(audio, fps)` runs once per video; scenes and visualisers then read plain arrays indexed
by frame number, so drawing a frame never touches the audio again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from core.audio import Audio
from core.errors import InputError

log = logging.getLogger(__name__)

# Rate the analysis runs at (librosa's usual rate; keeps 5 kHz content and halves the work of 44.1 kHz).
SAMPLE_RATE = 22050
# librosa hop between onset-envelope frames, in samples at SAMPLE_RATE (~23 ms).
HOP = 512
# Onset envelopes are computed over chunks of this many seconds (bounded memory for hour-long audio),
# each with this much context on both sides so chunk edges do not create false onsets.
CHUNK_S, CONTEXT_S = 30.0, 1.0
# Window of the per-frame spectrum (samples at SAMPLE_RATE): ~93 ms, 10.8 Hz per bin.
FFT_SIZE = 2048
# Band edges in Hz for the three energies scenes and visualisers use.
BANDS_HZ = {"low": (20.0, 250.0), "mid": (250.0, 4000.0), "high": (4000.0, 11000.0)}
# Spectrum bars: log-spaced bins from..to Hz.
SPECTRUM_BINS = 48
SPECTRUM_RANGE_HZ = (40.0, 10000.0)
# Levels are mapped linearly from this floor (dBFS) to 0 dBFS onto 0..1.
FLOOR_DB = -60.0
# Points of waveform kept per video frame (for the waveform visualiser).
WAVE_POINTS = 256
# Beat pulse: 1 on a beat frame, decaying with this time constant (seconds).
PULSE_DECAY_S = 0.15
# Onset-strength peaks trail the sound by about one hop; beat times are moved back by this much (seconds).
ONSET_LAG_S = 0.02
# Onset strength (librosa's spectral flux, in dB) the strongest onsets must reach for beats to count: a
# held tone or hum stays far below (~0.05), clicks, drums and speech far above (10..40).
MIN_ONSET_DB = 1.0
# Frames processed per block in the spectrum pass (bounds memory).
BLOCK_FRAMES = 2048


@dataclass(frozen=True)
class AudioFeatures:
    """Per-video-frame features of one soundtrack. Arrays have one row per video frame."""

    # Video frames per second the arrays are sampled at.
    fps: int
    # Number of video frames covering the audio (round(duration_s * fps), at least 1).
    n_frames: int
    # Length of the audio in seconds.
    duration_s: float
    # Estimated tempo in beats per minute; 0.0 when no beat was found (speech, silence).
    tempo_bpm: float
    # Beat times in seconds, ascending; empty when there are no beats.
    beat_times_s: np.ndarray
    # Video frame index nearest to each beat (same length as beat_times_s).
    beat_frames: np.ndarray
    # 1.0 on a beat frame, decaying exponentially until the next beat; float32 (n_frames,).
    beat_pulse: np.ndarray
    # Onset strength envelope, normalised to 0..1 over the track; float32 (n_frames,).
    onset: np.ndarray
    # RMS loudness in dBFS per frame; float32 (n_frames,).
    rms_db: np.ndarray
    # Loudness relative to the track's loud parts, 0..1 (1 = its 95th percentile); float32 (n_frames,).
    loudness: np.ndarray
    # Low/mid/high band levels, 0..1 on an absolute dBFS scale; float32 (n_frames, 3).
    bands: np.ndarray
    # Log-spaced spectrum levels, 0..1 on an absolute dBFS scale; float32 (n_frames, SPECTRUM_BINS).
    spectrum: np.ndarray
    # Centre frequency in Hz of each spectrum bin; float32 (SPECTRUM_BINS,).
    spectrum_hz: np.ndarray
    # The audio's samples during each frame, decimated to WAVE_POINTS points; float32 (n_frames, WAVE_POINTS).
    waveform: np.ndarray

    def frame_time_s(self, i: int) -> float:
        return i / float(self.fps)

    def is_beat_frame(self, i: int) -> bool:
        return bool(np.any(self.beat_frames == i))


def frame_count(duration_s: float, fps: int) -> int:
    """Video frames for audio of this length: the nearest whole frame, at least one (as VideoWriter)."""
    from engines.video.encode import frames_for

    return frames_for(duration_s, fps)


def _level_01(power: np.ndarray) -> np.ndarray:
    """Power (a full-scale sine = 1.0) -> 0..1 on the FLOOR_DB..0 dBFS scale."""
    db = 10.0 * np.log10(np.maximum(power, 1e-12))
    return np.clip((db - FLOOR_DB) / -FLOOR_DB, 0.0, 1.0).astype(np.float32)


def _onset_envelope(y: np.ndarray, sr: int) -> np.ndarray:
    """librosa's onset strength over the whole signal, computed chunk by chunk."""
    import librosa

    chunk = int(CHUNK_S * sr) // HOP * HOP
    ctx = int(CONTEXT_S * sr) // HOP * HOP
    n_env = len(y) // HOP + 1
    if len(y) < FFT_SIZE:  # very short sounds: pad so the analysis window fits
        y = np.pad(y, (0, FFT_SIZE - len(y)))
    if len(y) <= chunk + ctx:
        return librosa.onset.onset_strength(y=y, sr=sr, hop_length=HOP)[:n_env].astype(np.float32)
    parts = []
    for start in range(0, len(y), chunk):
        lo = max(0, start - ctx)
        seg = y[lo:start + chunk + ctx]
        env = librosa.onset.onset_strength(y=seg, sr=sr, hop_length=HOP)
        skip = (start - lo) // HOP
        parts.append(env[skip:skip + chunk // HOP])
    return np.concatenate(parts)[:n_env].astype(np.float32)


def _refine(env: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Beat positions in (fractional) envelope frames: each beat moved to the onset peak within two hops,
    then placed between hops by a parabola through the peak and its neighbours."""
    if frames.size == 0:
        return frames.astype(np.float64)
    pad = np.pad(env.astype(np.float64), 3)
    offsets = np.arange(-2, 3)
    near = pad[frames[:, None] + 3 + offsets[None, :]]
    peak = frames + offsets[np.argmax(near, axis=1)]
    a, b, c = pad[peak + 2], pad[peak + 3], pad[peak + 4]
    denom = a - 2 * b + c
    shift = np.where(np.abs(denom) > 1e-9, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
    return peak + np.clip(shift, -0.5, 0.5)


def _beats(env: np.ndarray, sr: int, duration_s: float) -> tuple[float, np.ndarray]:
    """Tempo (bpm) and beat times (s) from the onset envelope; (0, []) when there is no pulse."""
    import librosa

    if env.size < 8 or float(env.max()) < MIN_ONSET_DB:
        return 0.0, np.zeros(0, np.float32)
    tempo, frames = librosa.beat.beat_track(onset_envelope=env, sr=sr, hop_length=HOP, units="frames")
    frames = np.asarray(frames, np.int64)
    # A steady sound (a held tone, hum) has no onsets, only a spike where it starts: the tracker would
    # still place beats on the noise.
    if frames.size == 0 or float(np.percentile(env, 99.5)) < MIN_ONSET_DB:
        return 0.0, np.zeros(0, np.float32)
    times = _refine(env, frames) * (HOP / sr) - ONSET_LAG_S
    times = times[(times >= 0) & (times <= duration_s)]
    if times.size < 2:
        return 0.0, np.zeros(0, np.float32)
    # The tracker extrapolates at the ends of the music: drop end beats off the steady grid.
    if times.size >= 4:
        med = float(np.median(np.diff(times)))
        while times.size >= 4 and abs((times[-1] - times[-2]) - med) > 0.25 * med:
            times = times[:-1]
        while times.size >= 4 and abs((times[1] - times[0]) - med) > 0.25 * med:
            times = times[1:]
    # A straight line through the beats (time against beat number, skipped beats counted) gives a finer
    # tempo than the tempogram peak: it averages out the hop quantisation and jitter of single beats.
    gaps = np.diff(times)
    med = float(np.median(gaps))
    number = np.concatenate([[0], np.cumsum(np.maximum(np.round(gaps / med), 1))])
    period_s = float(np.polyfit(number, times, 1)[0])
    bpm = 60.0 / period_s if period_s > 0 else 0.0
    log.debug("tempo estimate %.2f bpm (tempogram %.2f)", bpm, float(np.atleast_1d(tempo)[0]))
    return bpm, times


def _frame_windows(padded: np.ndarray, n: int, centres: np.ndarray, width: int) -> np.ndarray:
    """Windows of `width` samples centred on `centres` from a signal of n samples that was zero-padded
    by width // 2 in front and width // 2 + width behind; (len(centres), width)."""
    view = np.lib.stride_tricks.sliding_window_view(padded, width)
    return view[np.clip(centres, 0, n)]


def analyse_audio(audio: Audio, fps: int) -> AudioFeatures:
    """Beats, onsets, loudness, band energies and spectrum of `audio`, sampled at `fps` video frames/s.

    Works on music, speech and silence alike: with no beats the beat arrays are empty and tempo is 0."""
    if audio is None or len(audio.samples) == 0:
        raise InputError("the audio is empty: give a sound file with at least a fraction of a second of sound")
    fps = int(fps)
    mono = audio.mono().resampled(SAMPLE_RATE) if audio.sample_rate != SAMPLE_RATE else audio.mono()
    y = np.nan_to_num(np.asarray(mono.samples, dtype=np.float32))
    sr = SAMPLE_RATE
    duration_s = audio.duration_s
    n = frame_count(duration_s, fps)
    # Sample index at the middle of each video frame.
    centres = ((np.arange(n) + 0.5) * (sr / fps)).astype(np.int64)

    env = _onset_envelope(y, sr)
    tempo_bpm, beat_times = _beats(env, sr, duration_s)
    env_t = np.arange(env.size) * (HOP / sr)
    onset = np.interp(centres / sr, env_t, env).astype(np.float32)
    top = float(np.percentile(onset, 99)) if onset.size else 0.0
    onset = np.clip(onset / top, 0, 1).astype(np.float32) if top > 1e-6 else np.zeros(n, np.float32)

    beat_frames = np.clip(np.round(beat_times * fps).astype(np.int64), 0, n - 1)
    pulse = np.zeros(n, np.float32)
    if beat_frames.size:
        idx = np.searchsorted(beat_frames, np.arange(n), side="right") - 1
        since_s = (np.arange(n) - beat_frames[np.maximum(idx, 0)]) / fps
        pulse = np.where(idx >= 0, np.exp(-since_s / PULSE_DECAY_S), 0.0).astype(np.float32)

    # Spectrum pass: one Hann-windowed FFT per video frame, in blocks.
    freqs = np.fft.rfftfreq(FFT_SIZE, 1.0 / sr)
    window = np.hanning(FFT_SIZE).astype(np.float32)
    norm = float(np.sum(window) ** 2)
    edges = np.geomspace(*SPECTRUM_RANGE_HZ, SPECTRUM_BINS + 1)
    spec_hz = np.sqrt(edges[:-1] * edges[1:]).astype(np.float32)
    band_masks = [(freqs >= lo) & (freqs < hi) for lo, hi in BANDS_HZ.values()]
    # FFT bins of each spectrum bin; a bin narrower than the FFT resolution takes the FFT bin above its edge.
    starts = np.minimum(np.searchsorted(freqs, edges[:-1]), len(freqs) - 1)
    stop = int(min(np.searchsorted(freqs, edges[-1]), len(freqs)))
    samples_per_frame = max(1, int(sr / fps))
    wave_pick = np.linspace(0, samples_per_frame - 1, WAVE_POINTS).astype(np.int64)
    rms_db = np.empty(n, np.float32)
    bands = np.empty((n, 3), np.float32)
    spectrum = np.empty((n, SPECTRUM_BINS), np.float32)
    waveform = np.empty((n, WAVE_POINTS), np.float32)
    padded_wave = np.pad(y, (0, samples_per_frame))
    padded_fft = np.pad(y, (FFT_SIZE // 2, FFT_SIZE // 2 + FFT_SIZE))
    for b0 in range(0, n, BLOCK_FRAMES):
        c = centres[b0:b0 + BLOCK_FRAMES]
        frames = _frame_windows(padded_fft, len(y), c, FFT_SIZE)
        ms = np.mean(np.square(frames[:, FFT_SIZE // 4: 3 * FFT_SIZE // 4], dtype=np.float32), axis=1)
        rms_db[b0:b0 + len(c)] = 10.0 * np.log10(np.maximum(ms, 1e-10))
        # Power per FFT bin scaled so a full-scale sine's peak bin is 1.0 (0 dBFS).
        power = np.abs(np.fft.rfft(frames * window, axis=1)).astype(np.float32) ** 2 * (4.0 / norm)
        for k, m in enumerate(band_masks):
            bands[b0:b0 + len(c), k] = _level_01(power[:, m].sum(axis=1))
        # Each spectrum bin shows its strongest FFT bin (a pure tone lights its bar fully).
        spectrum[b0:b0 + len(c)] = _level_01(np.maximum.reduceat(power[:, :stop], starts, axis=1))
        first = (np.arange(b0, b0 + len(c)) * (sr / fps)).astype(np.int64)
        waveform[b0:b0 + len(c)] = padded_wave[np.minimum(first[:, None] + wave_pick[None, :], len(padded_wave) - 1)]

    loud_top = float(np.percentile(rms_db, 95))
    loudness = np.clip(1.0 - (loud_top - rms_db) / 30.0, 0.0, 1.0).astype(np.float32)
    if loud_top < FLOOR_DB:  # silence: nothing is loud
        loudness[:] = 0.0
    log.info("analysed %.1f s of audio: %d frames, %d beats, tempo %.1f bpm", duration_s, n, beat_times.size,
             tempo_bpm)
    return AudioFeatures(fps=fps, n_frames=n, duration_s=duration_s, tempo_bpm=float(tempo_bpm),
                         beat_times_s=beat_times, beat_frames=beat_frames, beat_pulse=pulse, onset=onset,
                         rms_db=rms_db, loudness=loudness, bands=bands, spectrum=spectrum, spectrum_hz=spec_hz,
                         waveform=waveform)
