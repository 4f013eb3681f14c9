"""Colour grading and film finishing for frames: lift/gamma/gain as a per-channel lookup table,
saturation, a precomputed vignette, film grain from pre-generated noise and letterbox bars.

Everything works on uint8 RGB frames in place with OpenCV's saturating uint8 operations; the costly
parts (tables, masks, noise) are computed once per video, not per frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

# Cinema widescreen ratio the letterbox crops to.
LETTERBOX_RATIO = 2.39


@dataclass(frozen=True)
class Grade:
    """A colour grade. Per-channel values are (R, G, B)."""

    # Added to the shadows (output = lift + (1 - lift) * ...), typically -0.05..0.1.
    lift: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # Mid-tone exponent divisor: > 1 brightens mid-tones, < 1 darkens them.
    gamma: tuple[float, float, float] = (1.0, 1.0, 1.0)
    # Multiplier on the highlights, typically 0.8..1.2.
    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)
    # Contrast around mid-grey: 1 = unchanged.
    contrast: float = 1.0
    # Colour saturation: 0 = grey, 1 = unchanged, > 1 = richer.
    saturation: float = 1.0

    @classmethod
    def from_dict(cls, d: dict | None) -> Grade:
        d = d or {}

        def rgb(key: str, default: float) -> tuple[float, float, float]:
            v = d.get(key, default)
            if isinstance(v, (int, float)):
                return (float(v),) * 3
            return tuple(float(x) for x in v)  # type: ignore[return-value]

        return cls(lift=rgb("lift", 0.0), gamma=rgb("gamma", 1.0), gain=rgb("gain", 1.0),
                   contrast=float(d.get("contrast", 1.0)), saturation=float(d.get("saturation", 1.0)))

    @property
    def is_identity(self) -> bool:
        return self == Grade()


def grade_curves(grade: Grade, brightness: float = 1.0, lift_extra: float = 0.0) -> np.ndarray:
    """The grade as a float32 (256, 3) curve 0..1 per channel; `brightness` multiplies the result and
    `lift_extra` raises the blacks (a flash)."""
    x = np.linspace(0.0, 1.0, 256, dtype=np.float32)[:, None]
    lift = np.asarray(grade.lift, np.float32)[None, :]
    gamma = np.maximum(np.asarray(grade.gamma, np.float32)[None, :], 1e-3)
    gain = np.asarray(grade.gain, np.float32)[None, :]
    y = np.clip(x * gain, 0.0, 1.0)
    y = lift + (1.0 - lift) * y
    y = np.power(np.clip(y, 0.0, 1.0), 1.0 / gamma)
    if grade.contrast != 1.0:
        y = 0.5 + (y - 0.5) * grade.contrast
    y = y * brightness + lift_extra * (1.0 - y)
    return np.clip(y, 0.0, 1.0).astype(np.float32)


def curves_to_lut(curves: np.ndarray) -> np.ndarray:
    """(256, 3) float curves -> the (1, 256, 3) uint8 table cv2.LUT applies per channel."""
    return np.clip(np.round(curves * 255.0), 0, 255).astype(np.uint8).reshape(1, 256, 3)


def apply_lut(frame: np.ndarray, lut: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Map each channel of a uint8 RGB frame through `lut` (1, 256, 3)."""
    import cv2

    return cv2.LUT(frame, lut, dst=out if out is not None else frame)


def saturate(frame: np.ndarray, amount: float) -> np.ndarray:
    """Scale colour saturation of a uint8 RGB frame in place (1 = unchanged)."""
    import cv2

    if abs(amount - 1.0) < 1e-3:
        return frame
    grey = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return cv2.addWeighted(frame, float(amount), grey, float(1.0 - amount), 0.0, dst=frame)


def apply_grade(frame: np.ndarray, grade: Grade) -> np.ndarray:
    """Grade a uint8 RGB frame in place (saturation then curves) and return it."""
    saturate(frame, grade.saturation)
    if not grade.is_identity:
        apply_lut(frame, curves_to_lut(grade_curves(grade)))
    return frame


def vignette_mask(width_px: int, height_px: int, strength: float, softness: float = 0.6) -> np.ndarray:
    """A (H, W, 3) uint8 multiplier (255 = unchanged): 1 in the middle falling to 1 - strength in the
    corners, along an elliptical distance that fits the frame."""
    strength = float(np.clip(strength, 0.0, 1.0))
    y = np.linspace(-1.0, 1.0, height_px, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, width_px, dtype=np.float32)[None, :]
    r = np.sqrt(x * x + y * y) / np.sqrt(2.0)  # 0 in the centre, 1 in the corners
    start = 1.0 - np.clip(softness, 0.05, 1.0)
    t = np.clip((r - start) / (1.0 - start), 0.0, 1.0)
    t = t * t * (3 - 2 * t)  # smoothstep
    m = np.round(255.0 * (1.0 - strength * t)).astype(np.uint8)
    return np.repeat(m[:, :, None], 3, axis=2)


def apply_vignette(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.multiply(frame, mask, dst=frame, scale=1.0 / 255.0)


class Grain:
    """Film grain: one pre-generated monochrome noise field a little larger than the frame, read at a
    different offset each frame (deterministic per seed) and added/subtracted with saturating uint8
    maths: on RGB frames (`apply`) or, three times cheaper, on the luma plane of frames already in
    YUV (`apply_luma`: the same grain, scaled to studio-range luma)."""

    MARGIN_PX = 64

    def __init__(self, width_px: int, height_px: int, amount: float, seed: int = 0) -> None:
        self.width_px, self.height_px = width_px, height_px
        self.amount = float(amount)
        rng = np.random.default_rng(seed + 7919)
        h, w = height_px + self.MARGIN_PX, width_px + self.MARGIN_PX
        sigma = 255.0 * self.amount
        self._noise = np.clip(rng.normal(0.0, sigma, (h, w)).astype(np.float32), -127, 127)
        self._offsets = rng.integers(0, self.MARGIN_PX, size=(997, 2))
        self._planes: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _pos_neg(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """The noise's positive and negative parts as uint8, for "rgb" (three equal channels) or
        "luma" (an equal step on R, G and B moves BT.601 studio-range luma by 219/255 of it)."""
        if kind not in self._planes:
            if kind == "rgb":
                noise = np.repeat(self._noise[:, :, None], 3, axis=2)
            else:
                noise = self._noise * (219.0 / 255.0)
            self._planes[kind] = (np.ascontiguousarray(np.maximum(noise, 0).astype(np.uint8)),
                                  np.ascontiguousarray(np.maximum(-noise, 0).astype(np.uint8)))
        return self._planes[kind]

    def _apply(self, frame: np.ndarray, index: int, kind: str) -> np.ndarray:
        import cv2

        if self.amount <= 0:
            return frame
        pos, neg = self._pos_neg(kind)
        oy, ox = self._offsets[index % len(self._offsets)]
        h, w = self.height_px, self.width_px
        cv2.add(frame, pos[oy:oy + h, ox:ox + w], dst=frame)
        cv2.subtract(frame, neg[oy:oy + h, ox:ox + w], dst=frame)
        return frame

    def apply(self, frame: np.ndarray, index: int) -> np.ndarray:
        """Grain on an RGB uint8 (H, W, 3) frame, in place."""
        return self._apply(frame, index, "rgb")

    def apply_luma(self, luma: np.ndarray, index: int) -> np.ndarray:
        """The same grain on a studio-range luma plane (H, W) uint8, in place."""
        return self._apply(luma, index, "luma")


def letterbox_bar_px(width_px: int, height_px: int, ratio: float = LETTERBOX_RATIO) -> int:
    """Height of each black bar that leaves a width:height = ratio picture; 0 if the frame is wider."""
    picture_h = width_px / ratio
    if picture_h >= height_px:
        return 0
    return int(round((height_px - picture_h) / 2.0))


def apply_letterbox(frame: np.ndarray, ratio: float = LETTERBOX_RATIO) -> np.ndarray:
    bar = letterbox_bar_px(frame.shape[1], frame.shape[0], ratio)
    if bar:
        frame[:bar] = 0
        frame[frame.shape[0] - bar:] = 0
    return frame
