"""Life besides the mouth: eye blinks, small head motion and breathing, as per-frame tracks.

All of it is seeded, so the same request renders the same video.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.talking_head.mouth import MouthTrack

# Blink timing, seconds: mean gap between blinks (people blink ~15-20 times a minute), the
# shortest gap, and the closing / closed / opening phases of one blink.
BLINK_MEAN_GAP = 3.6
BLINK_MIN_GAP = 1.4
BLINK_CLOSE, BLINK_HOLD, BLINK_OPEN = 0.075, 0.04, 0.13
# Head motion at amount 1.0, as a fraction of the face width (shifts), degrees (roll) and relative scale.
HEAD_SHIFT_X = 0.010
HEAD_SHIFT_Y = 0.007
HEAD_ROLL_DEG = 1.3
HEAD_SCALE = 0.006
# Nods that follow the speech rhythm, fraction of face width.
SPEECH_NOD = 0.010
# Breathing: period in seconds and vertical rise (fraction of face width).
BREATH_PERIOD = 4.2
BREATH_RISE = 0.0025


@dataclass(frozen=True)
class MotionTrack:
    # (n,) eyelid closure, 0 open .. 1 closed.
    blink: np.ndarray
    # (n, 4) head pose per frame: roll (degrees), shift x, shift y (pixels), scale (1 = as in the photo).
    head: np.ndarray


def _noise(n: int, fps: float, rng: np.random.Generator, freqs: tuple[float, float] = (0.07, 0.45)) -> np.ndarray:
    """Smooth random motion in [-1, 1]: a few slow sinusoids with random frequencies and phases."""
    t = np.arange(n) / fps
    out = np.zeros(n)
    total = 0.0
    for i in range(4):
        f = rng.uniform(*freqs)
        amp = 1.0 / (1.0 + i)
        out += amp * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        total += amp
    return out / total * 1.6


def blink_track(n: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    duration = n / fps
    t = rng.uniform(0.6, 2.2)
    while t < duration:
        starts = [t]
        if rng.random() < 0.12:  # now and then a double blink
            starts.append(t + BLINK_CLOSE + BLINK_HOLD + BLINK_OPEN + 0.08)
        for s in starts:
            _add_blink(out, s, fps)
        t = starts[-1] + max(BLINK_MIN_GAP, rng.gamma(3.0, BLINK_MEAN_GAP / 3.0))
    return np.clip(out, 0.0, 1.0)


def _add_blink(out: np.ndarray, start: float, fps: float) -> None:
    n = len(out)
    times = (np.arange(n) + 0.5) / fps - start
    close = np.clip(times / BLINK_CLOSE, 0.0, 1.0)
    opening = np.clip((times - BLINK_CLOSE - BLINK_HOLD) / BLINK_OPEN, 0.0, 1.0)
    curve = np.where(times < 0, 0.0, np.sin(close * np.pi / 2) ** 2 * (1.0 - opening ** 1.5))
    np.maximum(out, curve, out=out)


def plan_motion(n: int, fps: float, face_width: float, speech: MouthTrack, head_motion: float,
                still: bool, blinks: bool, seed: int) -> MotionTrack:
    """Blink and head tracks for `n` frames; `face_width` in output pixels scales the shifts."""
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(seed)
    blink = blink_track(n, fps, rng) if blinks else np.zeros(n)
    head = np.zeros((n, 4))
    head[:, 3] = 1.0
    amount = 0.0 if still else float(head_motion)
    if amount > 0 and n > 0:
        t = np.arange(n) / fps
        # Speech rhythm: the opening envelope minus its slow average gives nods on stressed syllables.
        o = speech.open.astype(np.float64)
        fast = gaussian_filter1d(o, 0.12 * fps, mode="nearest")
        slow = gaussian_filter1d(o, 0.6 * fps, mode="nearest")
        nod = np.clip(fast - slow, -0.5, 0.5)
        talking = gaussian_filter1d(speech.active.astype(np.float64), 0.5 * fps, mode="nearest")
        lively = 0.6 + 0.6 * talking  # a little more motion while speaking
        breath = np.sin(2 * np.pi * t / BREATH_PERIOD + rng.uniform(0, 2 * np.pi))
        head[:, 0] = amount * HEAD_ROLL_DEG * _noise(n, fps, rng) * lively
        head[:, 1] = amount * face_width * HEAD_SHIFT_X * _noise(n, fps, rng) * lively
        head[:, 2] = amount * face_width * (HEAD_SHIFT_Y * _noise(n, fps, rng) * lively
                                            + SPEECH_NOD * nod + BREATH_RISE * breath)
        head[:, 3] = 1.0 + amount * (HEAD_SCALE * _noise(n, fps, rng) + 0.0015 * breath)
    return MotionTrack(blink.astype(np.float32), head.astype(np.float32))
