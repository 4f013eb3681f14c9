"""Voice styles (natural, heroic_male, soprano, choir, whisper) applied to speech.

The styles themselves are data in assets/voice_styles.json; this module only knows how
to apply the fields: WORLD vocoder for pitch, formants and whisper; layered copies for a
choir; then the style's effect chain.
"""

from __future__ import annotations

import functools
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio import Audio
from core.errors import InputError
from engines.voice import effects

STYLES_PATH = Path(__file__).resolve().parents[2] / "assets" / "voice_styles.json"
FRAME_MS = 5.0


@dataclass(frozen=True)
class VoiceStyle:
    name: str
    label: str
    pitch_semitones: float
    formant_ratio: float
    rate: float
    whisper: bool
    layers: tuple[dict, ...]
    effects: dict


@functools.lru_cache(maxsize=1)
def styles() -> dict[str, VoiceStyle]:
    raw = json.loads(STYLES_PATH.read_text(encoding="utf-8"))
    return {
        name: VoiceStyle(name, d["label"], float(d["pitch_semitones"]), float(d["formant_ratio"]), float(d["rate"]),
                         bool(d["whisper"]), tuple(d.get("layers", [])), dict(d.get("effects", {})))
        for name, d in raw.items() if not name.startswith("_")
    }


def get_style(name: str | None) -> VoiceStyle:
    name = (name or "natural").strip().lower()
    try:
        return styles()[name]
    except KeyError:
        raise InputError(f"unknown voice style {name!r}; choose one of: {', '.join(styles())}") from None


def _world_analyse(y: np.ndarray, sr: int):
    import pyworld

    x = y.astype(np.float64)
    f0, t = pyworld.dio(x, sr, frame_period=FRAME_MS, f0_floor=60.0, f0_ceil=800.0)
    f0 = pyworld.stonemask(x, f0, t, sr)
    sp = pyworld.cheaptrick(x, f0, t, sr)
    ap = pyworld.d4c(x, f0, t, sr)
    return f0, sp, ap


def _world_synth(f0: np.ndarray, sp: np.ndarray, ap: np.ndarray, sr: int, n: int) -> np.ndarray:
    import pyworld

    y = pyworld.synthesize(np.ascontiguousarray(f0), np.ascontiguousarray(sp), np.ascontiguousarray(ap), sr,
                           frame_period=FRAME_MS)
    y = y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))
    return y.astype(np.float32)


def _warp_envelope(sp: np.ndarray, ratio: float) -> np.ndarray:
    """Scale the spectral envelope along frequency: ratio > 1 moves formants up."""
    if abs(ratio - 1.0) < 1e-3:
        return sp
    bins = np.arange(sp.shape[1], dtype=np.float64)
    src = np.clip(bins / ratio, 0, sp.shape[1] - 1)
    return np.stack([np.interp(src, bins, frame) for frame in sp])


def apply_style(speech: Audio, style: VoiceStyle, extra_semitones: float = 0.0,
                effect_overrides: dict | None = None) -> Audio:
    """Speech in, styled speech out (stereo for styles with layers or a wide reverb)."""
    audio = speech.mono()
    sr, n = audio.sample_rate, len(audio.samples)
    semis = style.pitch_semitones + extra_semitones
    needs_world = bool(semis) or abs(style.formant_ratio - 1) > 1e-3 or style.whisper or style.layers
    y = audio.samples
    if needs_world:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f0, sp, ap = _world_analyse(y, sr)
        sp = _warp_envelope(sp, style.formant_ratio)
        f0 = f0 * 2 ** (semis / 12)
        if style.whisper:
            # Unvoiced everywhere: noise excitation through the same envelope.
            f0 = np.zeros_like(f0)
            ap = np.ones_like(ap)
            sp = sp * 0.6
        y = _world_synth(f0, sp, ap, sr, n)
        if style.layers:
            y = _layer(y, f0, sp, ap, sr, n, style.layers)
    fx = effects.EffectSettings.from_dict(style.effects, **(effect_overrides or {}))
    return effects.apply(Audio(np.asarray(y, np.float32), sr), fx)


def _layer(lead: np.ndarray, f0, sp, ap, sr: int, n: int, layers: tuple[dict, ...]) -> np.ndarray:
    """Lead in the centre plus detuned, delayed copies panned across the stereo field."""
    out = np.zeros((n + int(0.1 * sr), 2), np.float32)
    out[:n, 0] += lead * 0.8
    out[:n, 1] += lead * 0.8
    for i, layer in enumerate(layers):
        shifted = f0 * 2 ** (float(layer.get("cents", 0)) / 1200)
        # A slow, different vibrato per voice keeps the layers from phasing.
        t = np.arange(len(shifted)) * FRAME_MS / 1000
        shifted = shifted * (1 + 0.004 * np.sin(2 * np.pi * (4.7 + 0.6 * i) * t + i))
        y = _world_synth(shifted, sp, ap, sr, n) * 10 ** (float(layer.get("gain_db", 0)) / 20)
        d = int(float(layer.get("delay_ms", 0)) / 1000 * sr)
        pan = float(layer.get("pan", 0))
        out[d:d + n, 0] += y * np.sqrt((1 - pan) / 2)
        out[d:d + n, 1] += y * np.sqrt((1 + pan) / 2)
    return out / max(1.0, float(np.max(np.abs(out))))
