"""Audio visualisers drawn on video frames (spectrum bars, waveform, circular spectrum) from the per-frame
AudioFeatures, plus still previews of a sound (waveform or spectrogram images).

Per frame the drawing is a handful of OpenCV calls on the frame itself (no per-pixel Python loops);
geometry that does not change is computed once.
"""

from __future__ import annotations

import logging

import numpy as np

from core.audio import Audio
from core.errors import InputError
from engines.video.beats import AudioFeatures

log = logging.getLogger(__name__)

VISUALISER_KINDS = ("bars", "waveform", "circle")
PREVIEW_KINDS = ("waveform", "spectrogram")
GOLD = (0xD4, 0xAF, 0x37)
# Preview images: smallest and largest edge in pixels.
PREVIEW_EDGE_PX = (32, 4000)


def check_kind(kind: str | None) -> str | None:
    """The visualiser kind, normalised; None/""/"none" for no visualiser; InputError listing the kinds."""
    if kind is None:
        return None
    k = str(kind).strip().lower()
    if k in ("", "none", "off"):
        return None
    if k not in VISUALISER_KINDS:
        raise InputError(f"visualiser {kind!r} does not exist: choose one of {', '.join(VISUALISER_KINDS)} "
                         "(or none)")
    return k


class Visualiser:
    """Draws one kind of visualiser for frame i: `Visualiser("bars", (w, h), features).draw(frame, i)`.

    bars: spectrum bars rising from the bottom edge; waveform: the samples of the frame as a line across
    the lower part; circle: spectrum bars radiating from a ring in the middle. Levels come from the
    features' absolute dBFS scale, so a louder band draws taller bars."""

    def __init__(self, kind: str, size, features: AudioFeatures, colour: tuple[int, int, int] = GOLD,
                 bars: int = 48, height_frac: float = 0.26) -> None:
        self.kind = check_kind(kind) or "bars"
        if hasattr(size, "width_px"):
            size = (size.width_px, size.height_px)
        self.width_px, self.height_px = int(size[0]), int(size[1])
        self.features = features
        self.colour = tuple(int(c) for c in colour)
        self.shadow = tuple(int(c * 0.35) for c in colour)
        w, h = self.width_px, self.height_px
        self.scale = h / 720.0
        n_bins = features.spectrum.shape[1]
        self.n_bars = max(4, min(int(bars), n_bins))
        # Spectrum bins grouped into bars (each bar shows its loudest bin).
        self.groups = np.linspace(0, n_bins, self.n_bars + 1).astype(int)
        self.max_h = height_frac * h
        span = 0.84 * w
        self.bar_pitch = span / self.n_bars
        self.bar_x0 = (w - span) / 2.0
        self.bar_w = max(1, int(self.bar_pitch * 0.72))
        self.thickness = max(1, int(round(2 * self.scale)))
        n_ring = self.n_bars
        ang = np.linspace(-np.pi / 2, 1.5 * np.pi, 2 * n_ring, endpoint=False)
        self.ring_cos, self.ring_sin = np.cos(ang), np.sin(ang)
        self.ring_r = 0.16 * h
        self.ring_len = 0.17 * h

    def levels(self, i: int) -> np.ndarray:
        """Bar levels 0..1 for frame i (one per bar, low to high frequencies)."""
        f = self.features
        row = f.spectrum[min(max(int(i), 0), f.n_frames - 1)]
        return np.maximum.reduceat(row, self.groups[:-1])[: self.n_bars]

    def bar_heights_px(self, i: int) -> np.ndarray:
        return np.round(self.levels(i) * self.max_h).astype(np.int32)

    def draw(self, frame: np.ndarray, i: int) -> np.ndarray:
        """Draw onto `frame` (RGB uint8, modified in place) and return it."""
        self._draw([(frame, self.colour, self.shadow, 0, 1)], i)
        return frame

    def draw_yuv(self, yuv: np.ndarray, i: int) -> np.ndarray:
        """Draw onto an I420 frame (H * 3 / 2, W) uint8, in place: the same shapes on each plane in the
        colour's luma and chroma (chroma planes at half the coordinates, through OpenCV's sub-pixel
        shift, with lines half as thick)."""
        from engines.video.yuv import BLACK_Y, GREY_C, RGB_TO_YUV, planes

        if yuv.shape != (self.height_px * 3 // 2, self.width_px):
            raise ValueError(f"an I420 frame for a {self.width_px}x{self.height_px} visualiser is "
                             f"{(self.height_px * 3 // 2, self.width_px)}, got {yuv.shape}")
        offsets = np.array([BLACK_Y, GREY_C, GREY_C], np.float32)
        fg, sh = (RGB_TO_YUV @ np.asarray(c, np.float32) + offsets for c in (self.colour, self.shadow))
        y, u, v = planes(yuv)
        self._draw([(y, int(round(fg[0])), int(round(sh[0])), 0, 1),
                    (u, int(round(fg[1])), int(round(sh[1])), 1, 2),
                    (v, int(round(fg[2])), int(round(sh[2])), 1, 2)], i)
        return yuv

    def _draw(self, canvases: list, i: int) -> None:
        """The shapes of frame i on each (image, colour, shadow colour, shift, thickness divisor):
        coordinates are full-frame pixels, read as 2^-shift pixels of that image."""
        import cv2

        h = self.height_px

        def thick(t: int, div: int) -> int:
            return max(1, t // div)

        if self.kind == "bars":
            heights = self.bar_heights_px(i)
            bottom = h - 1
            for k, bh in enumerate(heights):
                if bh <= 0:
                    continue
                x = int(self.bar_x0 + k * self.bar_pitch)
                for img, colour, shadow, shift, _ in canvases:
                    cv2.rectangle(img, (x + 1, bottom - int(bh) + 1), (x + self.bar_w + 1, bottom), shadow, -1,
                                  shift=shift)
                    cv2.rectangle(img, (x, bottom - int(bh)), (x + self.bar_w - 1, bottom), colour, -1, shift=shift)
        elif self.kind == "waveform":
            f = self.features
            wave = f.waveform[min(max(int(i), 0), f.n_frames - 1)]
            n = len(wave)
            xs = np.linspace(0.05 * self.width_px, 0.95 * self.width_px, n)
            ys = 0.82 * h - np.clip(wave, -1, 1) * (0.13 * h)
            pts = np.stack([xs, ys], axis=1).round().astype(np.int32).reshape(-1, 1, 2)
            for img, colour, shadow, shift, div in canvases:
                cv2.polylines(img, [pts + [1, 1]], False, shadow, thick(self.thickness + 1, div), cv2.LINE_AA,
                              shift)
                cv2.polylines(img, [pts], False, colour, thick(self.thickness, div), cv2.LINE_AA, shift)
        else:  # circle: the spectrum mirrored around a ring
            lv = self.levels(i)
            lv = np.concatenate([lv, lv[::-1]])
            cx, cy = self.width_px / 2.0, h / 2.0
            r0 = self.ring_r
            r1 = r0 + np.maximum(lv * self.ring_len, 1.0)
            seg = np.stack([np.stack([cx + r0 * self.ring_cos, cy + r0 * self.ring_sin], 1),
                            np.stack([cx + r1 * self.ring_cos, cy + r1 * self.ring_sin], 1)], 1)
            lines = list(seg.round().astype(np.int32))
            for img, colour, _, shift, div in canvases:
                cv2.polylines(img, lines, False, colour, thick(max(1, int(round(3 * self.scale))), div), cv2.LINE_AA,
                              shift)
                cv2.circle(img, (int(cx), int(cy)), int(r0 - 2 * self.scale), colour, thick(self.thickness, div),
                           cv2.LINE_AA, shift)


def _preview_size(size) -> tuple[int, int]:
    if hasattr(size, "width_px"):
        return int(size.width_px), int(size.height_px)
    if isinstance(size, str):
        try:
            w, h = (int(v) for v in size.lower().replace("×", "x").split("x"))
        except ValueError:
            raise InputError(f"preview size {size!r} is not understood: give WIDTHxHEIGHT such as 800x200") from None
    else:
        w, h = int(size[0]), int(size[1])
    lo, hi = PREVIEW_EDGE_PX
    if not (lo <= w <= hi and lo <= h <= hi):
        raise InputError(f"preview size {w}x{h} is outside {lo}..{hi} px per edge")
    return w, h


def preview_image(audio: Audio, kind: str = "waveform", size=(800, 200)):
    """A still picture of the sound as a PIL.Image of exactly `size` (w, h) pixels: "waveform" (the
    peak envelope over time) or "spectrogram" (log-frequency energy over time, dB)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    if kind not in PREVIEW_KINDS:
        raise InputError(f"preview kind {kind!r} does not exist: choose one of {', '.join(PREVIEW_KINDS)}")
    if audio is None or len(audio.samples) == 0:
        raise InputError("the audio is empty: nothing to draw")
    w, h = _preview_size(size)
    y = np.asarray(audio.mono().samples, np.float32)
    sr = audio.sample_rate
    dpi = 100
    fig = Figure(figsize=(w / dpi, h / dpi), dpi=dpi, facecolor="#111114")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_facecolor("#111114")
    if kind == "waveform":
        cols = max(1, min(w, len(y)))
        edges = np.linspace(0, len(y), cols + 1).astype(int)
        lo = np.minimum.reduceat(y, edges[:-1])
        hi = np.maximum.reduceat(y, edges[:-1])
        t = np.linspace(0, len(y) / sr, cols)
        ax.fill_between(t, lo, hi, color=np.array(GOLD) / 255.0, linewidth=0)
        ax.set_xlim(0, len(y) / sr)
        ax.set_ylim(-1.02, 1.02)
        ax.axhline(0, color="#3a3a40", linewidth=0.6)
    else:
        from scipy.signal import spectrogram

        n_fft = 1024 if sr >= 16000 else 512
        freqs, times, sxx = spectrogram(y, fs=sr, nperseg=min(n_fft, len(y)), noverlap=min(n_fft, len(y)) * 3 // 4,
                                        scaling="spectrum", mode="magnitude")
        db = 20 * np.log10(np.maximum(sxx, 1e-6))
        top = float(db.max()) if db.size else 0.0
        keep = freqs >= 20
        ax.pcolormesh(times if times.size > 1 else np.array([0.0]), freqs[keep], db[keep], shading="auto",
                      cmap="magma", vmin=top - 80, vmax=top)
        ax.set_yscale("log")
        ax.set_ylim(max(20.0, float(freqs[keep][0]) if keep.any() else 20.0), sr / 2)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    img = Image.fromarray(np.asarray(canvas.buffer_rgba())[:, :, :3].copy(), "RGB")
    if img.size != (w, h):  # rounding of inches to pixels
        img = img.resize((w, h))
    return img

