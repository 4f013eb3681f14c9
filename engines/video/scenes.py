"""Procedural scenes that move to a soundtrack: templates as data (assets/scene_templates.json) and a
renderer that draws any frame of a scene on demand.

`SceneRenderer(template, size, fps, features, images=None, seed=0).frame(i)` -> RGB uint8 (H, W, 3);
`.frame_yuv(i)` draws the same frame straight into I420 (engines/video/yuv.py), which videos use.

A frame is: the base picture (a user photo fitted to the frame, or a procedural background), moved by
the camera (push-in, drift, a kick on each beat); light layers (smoke, rays, bokeh) drawn at a quarter
of the resolution and particles (embers, dust) splatted at half resolution, both added over the
picture; then the grade with firelight flicker and beat flash (one lookup table per frame), vignette,
grain. With letterbox the picture is the 2.39:1 band between the bars: photos are fitted to the band
and nothing is drawn under the bars. All positions are closed-form functions of time and the seed, so
any frame can be drawn alone and the same frame is always the same picture.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import InputError
from engines.video.beats import AudioFeatures
from engines.video.grade import Grade, Grain, apply_grade, apply_letterbox, letterbox_bar_px, saturate, vignette_mask
from engines.video.types import VideoSize, parse_size

log = logging.getLogger(__name__)

TEMPLATES_PATH = Path(__file__).resolve().parents[2] / "assets" / "scene_templates.json"
# Template sizes and speeds are given for a frame this many pixels high and scale with the output.
REFERENCE_HEIGHT_PX = 720
LAYER_KINDS = ("smoke", "embers", "dust", "rays", "bokeh")
# Seconds each photo stays when the soundtrack's length is unknown (no features).
DEFAULT_SECONDS_PER_IMAGE = 8.0
# Frames at least this high splat particles at half resolution (smaller ones at full resolution).
PARTICLES_HALF_RES_FROM_PX = 540
# Longest crossfade between two photos, seconds.
CROSSFADE_S = 1.0
# A beat kick tilts the frame only while its pulse is above this (0..1), fading in from it: frames
# without tilt are cut from the picture by PanZoom (a resize) instead of a rotating warp, at half the cost.
TILT_FROM_PULSE = 0.5
# A tilt that would move the frame's corners by less than this (pixels) is left out: as small as
# PanZoom's own sub-pixel error, and the tremble crosses zero on every beat.
TILT_MIN_PX = 0.25


@dataclass(frozen=True)
class Camera:
    # Zoom added per second (0.01 = 1 % a second) up to max_zoom.
    push_in_per_s: float = 0.0
    max_zoom: float = 1.1
    # Slow float of the frame: amplitude (reference px) and period (s).
    drift_px: float = 0.0
    drift_period_s: float = 10.0
    # Kick on each beat: offset (reference px) and rotation (degrees) at full beat pulse. The rotation
    # fades out faster than the offset (gone once the pulse is below TILT_FROM_PULSE): a hit tilts the
    # frame, the tremble after it only shifts it.
    shake_px: float = 0.0
    shake_deg: float = 0.0
    # How fast a kick trembles while it decays (Hz).
    shake_hz: float = 10.0


@dataclass(frozen=True)
class SceneTemplate:
    # Key in assets/scene_templates.json ("epic_battle").
    name: str
    # What the user sees ("Epic battle") and a one-line description.
    label: str
    description: str
    # Procedural background used without photos (see the JSON comment for keys).
    background: dict
    # How photos are prepared: soft_focus 0..1, blur_px, saturation.
    photo: dict
    camera: Camera
    # Whole-frame brightening on beats, 0..1.
    flash: float
    # Firelight brightness wobble: amount 0..1 and rate (Hz).
    flicker_amount: float
    flicker_hz: float
    # Additive layers, each a dict with "kind" in LAYER_KINDS and its parameters.
    layers: tuple[dict, ...]
    grade: Grade
    # Corner darkening 0..1 and how far into the frame it reaches (softness 0..1).
    vignette_strength: float
    vignette_softness: float
    # Film grain strength (noise sigma as a fraction of full scale).
    grain: float
    # Black bars to a 2.39:1 picture.
    letterbox: bool
    # The raw JSON entry (for display and tests).
    raw: dict = field(default_factory=dict, compare=False, repr=False)


def _template(name: str, d: dict) -> SceneTemplate:
    cam = d.get("camera", {})
    flicker = d.get("flicker", {})
    vig = d.get("vignette", {})
    if isinstance(vig, (int, float)):
        vig = {"strength": vig}
    for layer in d.get("layers", []):
        if layer.get("kind") not in LAYER_KINDS:
            raise ValueError(f"scene template {name}: layer kind {layer.get('kind')!r} is not one of {LAYER_KINDS}")
    return SceneTemplate(
        name=name, label=d.get("label", name), description=d.get("description", ""),
        background=dict(d.get("background", {})), photo=dict(d.get("photo", {})),
        camera=Camera(**{k: float(v) for k, v in cam.items()}),
        flash=float(d.get("flash", 0.0)), flicker_amount=float(flicker.get("amount", 0.0)),
        flicker_hz=float(flicker.get("rate_hz", 0.0)), layers=tuple(dict(x) for x in d.get("layers", [])),
        grade=Grade.from_dict(d.get("grade")), vignette_strength=float(vig.get("strength", 0.0)),
        vignette_softness=float(vig.get("softness", 0.6)), grain=float(d.get("grain", 0.0)),
        letterbox=bool(d.get("letterbox", False)), raw=d)


@functools.lru_cache(maxsize=1)
def load_templates(path: str = str(TEMPLATES_PATH)) -> dict[str, SceneTemplate]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {k: _template(k, v) for k, v in data.items() if not k.startswith("_")}


def template_names() -> list[str]:
    return list(load_templates())


def get_template(name: str | SceneTemplate) -> SceneTemplate:
    """The template called `name`; InputError listing the templates when there is none."""
    if isinstance(name, SceneTemplate):
        return name
    templates = load_templates()
    key = str(name or "").strip().lower().replace(" ", "_").replace("-", "_")
    if key not in templates:
        raise InputError(f"scene template {name!r} does not exist: choose one of {', '.join(templates)}")
    return templates[key]


# ----------------------------------------------------------------------------- helpers


def _rgb(v, default=(255, 255, 255)) -> np.ndarray:
    return np.asarray(v if v is not None else default, np.float32).reshape(3)


def _periodic_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Smooth value noise 0..1 that tiles seamlessly: shape (ceil(h/cell)*cell, ceil(w/cell)*cell)."""
    import cv2

    cell = max(2, int(cell))
    gh, gw = max(2, -(-height // cell)), max(2, -(-width // cell))
    grid = rng.random((gh, gw)).astype(np.float32)
    big = cv2.resize(np.tile(grid, (3, 3)), (3 * gw * cell, 3 * gh * cell), interpolation=cv2.INTER_CUBIC)
    tile = big[gh * cell:2 * gh * cell, gw * cell:2 * gw * cell]
    lo, hi = float(tile.min()), float(tile.max())
    return np.ascontiguousarray((tile - lo) / max(hi - lo, 1e-6))


class _Features:
    """Per-frame audio values with safe defaults when there is no audio or the index runs past it."""

    def __init__(self, features: AudioFeatures | None) -> None:
        self.f = features
        self.n = features.n_frames if features is not None else 0
        # Beats at or before each frame, looked up once for the whole video.
        self._beats_by_frame = None
        if features is not None and features.beat_frames.size:
            self._beats_by_frame = np.searchsorted(features.beat_frames, np.arange(self.n), side="right")

    def _get(self, arr: np.ndarray | None, i: int) -> float:
        if arr is None or self.n == 0:
            return 0.0
        return float(arr[min(max(i, 0), self.n - 1)])

    def loudness(self, i: int) -> float:
        return self._get(None if self.f is None else self.f.loudness, i)

    def pulse(self, i: int) -> float:
        return self._get(None if self.f is None else self.f.beat_pulse, i)

    def beat_index(self, i: int) -> int:
        """How many beats happened at or before frame i (0 before the first)."""
        if self._beats_by_frame is None:
            return 0
        if 0 <= i < self.n:
            return int(self._beats_by_frame[i])
        return int(np.searchsorted(self.f.beat_frames, i, side="right"))

    def last_beat_s(self, i: int) -> float | None:
        k = self.beat_index(i)
        if k == 0:
            return None
        return float(self.f.beat_frames[k - 1]) / self.f.fps


# ----------------------------------------------------------------------------- layers


class _Layer:
    """One additive layer. `res` is "quarter" (soft light) or "half" (particles)."""

    res = "quarter"

    def draw(self, buf: np.ndarray, t_s: float, loud: float, pulse: float) -> None:
        raise NotImplementedError


class _Smoke(_Layer):
    res = "quarter"

    def __init__(self, spec: dict, w: int, h: int, unit: float, rng: np.random.Generator) -> None:
        self.w, self.h = w, h
        self.colour = _rgb(spec.get("colour"), (120, 110, 100))
        self.opacity = float(spec.get("opacity", 0.3))
        self.gain = float(spec.get("loudness_gain", 0.0))
        cell = float(spec.get("scale_px", 180)) * unit
        vx, vy = (float(v) * unit for v in spec.get("speed_px_s", (20, -10)))
        self.octaves = []
        for o in range(max(1, int(spec.get("octaves", 2)))):
            c = max(2, int(round(cell / (2 ** o))))
            tile = _periodic_noise(rng, h, w, c)
            ang = math.radians(35.0 * o)
            v = ((vx * math.cos(ang) - vy * math.sin(ang)) * (1 + 0.6 * o),
                 (vx * math.sin(ang) + vy * math.cos(ang)) * (1 + 0.6 * o))
            # Two periods each way: any window of the frame's size is a plain slice.
            self.octaves.append((np.tile(tile, (2, 2)), tile.shape, v, 0.5 ** o))
        self.norm = sum(o[3] for o in self.octaves)
        self._field = np.zeros((h, w), np.float32)
        self._win = np.zeros((h, w), np.float32)
        self._rgb = np.zeros((h, w, 3), np.float32)

    def draw(self, buf: np.ndarray, t_s: float, loud: float, pulse: float) -> None:
        import cv2

        field_, win = self._field, self._win
        for o, (tile2, (th, tw), (vx, vy), weight) in enumerate(self.octaves):
            # Sub-pixel window (bilinear) so slow smoke glides instead of stepping.
            oy, ox = (-vy * t_s) % th, (-vx * t_s) % tw
            cv2.getRectSubPix(tile2, (self.w, self.h), (ox + (self.w - 1) / 2.0, oy + (self.h - 1) / 2.0), patch=win)
            if o == 0:
                cv2.multiply(win, weight / self.norm, dst=field_)
            else:
                cv2.scaleAdd(win, weight / self.norm, field_, dst=field_)
        # Density (field - 0.3) * 1.8 clipped to 0..1, tinted and added: in place, no temporaries.
        np.subtract(field_, 0.3, out=field_)
        np.clip(field_, 0.0, 1.0 / 1.8, out=field_)
        amount = 1.8 * self.opacity * (1.0 + self.gain * loud)
        c = self.colour * amount
        cv2.cvtColor(field_, cv2.COLOR_GRAY2RGB, dst=self._rgb)
        cv2.multiply(self._rgb, (float(c[0]), float(c[1]), float(c[2]), 0.0), dst=self._rgb)
        cv2.add(buf, self._rgb, dst=buf)


class _Rays(_Layer):
    res = "quarter"
    BIN_DEG = 0.25

    def __init__(self, spec: dict, w: int, h: int, unit: float, rng: np.random.Generator) -> None:
        self.colour = _rgb(spec.get("colour"), (255, 230, 180))
        self.opacity = float(spec.get("opacity", 0.5))
        self.gain = float(spec.get("loudness_gain", 0.0))
        sx, sy = spec.get("source_xy", (0.5, -0.1))
        angle, spread = float(spec.get("angle_deg", 90)), float(spec.get("spread_deg", 40))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        dx, dy = xx - sx * w, yy - sy * h
        theta = np.degrees(np.arctan2(dy, dx)) - angle
        theta = (theta + 180.0) % 360.0 - 180.0
        self.bins = np.arange(-90.0, 90.0, self.BIN_DEG, dtype=np.float32)
        self.index = np.clip(np.round((theta + 90.0) / self.BIN_DEG), 0, len(self.bins) - 1).astype(np.int32)
        dist = np.sqrt(dx * dx + dy * dy) / math.hypot(w, h)
        cone = np.exp(-2.0 * (theta / max(spread / 2.0, 1.0)) ** 2)
        self.falloff = (cone * np.clip(1.15 - dist, 0.0, 1.0) ** 1.5).astype(np.float32)
        n = max(1, int(spec.get("count", 6)))
        self.centres = rng.uniform(-spread / 2, spread / 2, n).astype(np.float32)
        self.widths = rng.uniform(1.2, 4.5, n).astype(np.float32)
        self.strengths = rng.uniform(0.35, 1.0, n).astype(np.float32)
        self.phases = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
        self.sway = float(spec.get("sway_deg", 2.0))
        self.sway_hz = float(spec.get("sway_hz", 0.05))

    def draw(self, buf: np.ndarray, t_s: float, loud: float, pulse: float) -> None:
        w = 2 * np.pi * self.sway_hz * t_s
        centres = self.centres + self.sway * np.sin(w + self.phases)
        breathe = 0.75 + 0.25 * np.sin(0.7 * w + 2 * self.phases)
        profile = np.sum(self.strengths[:, None] * breathe[:, None]
                         * np.exp(-(((self.bins[None, :] - centres[:, None]) / self.widths[:, None]) ** 2)), axis=0)
        profile = 0.15 + np.minimum(profile, 1.2)  # a faint haze in the whole cone, brighter shafts
        light = profile.astype(np.float32)[self.index] * self.falloff
        amount = self.opacity * (1.0 + self.gain * loud)
        buf += light[:, :, None] * (self.colour * amount)


class _Bokeh(_Layer):
    res = "quarter"

    def __init__(self, spec: dict, w: int, h: int, unit: float, rng: np.random.Generator) -> None:
        self.w, self.h = w, h
        n = max(1, int(spec.get("count", 16)))
        colours = np.asarray(spec.get("colours") or [spec.get("colour", (255, 200, 150))], np.float32)
        r0, r1 = (float(v) * unit for v in spec.get("radius_px", (20, 50)))
        v0, v1 = (float(v) * unit for v in spec.get("drift_px_s", (4, 12)))
        self.opacity = float(spec.get("opacity", 0.2))
        self.gain = float(spec.get("loudness_gain", 0.0))
        self.radii = np.maximum(1.5, rng.uniform(r0, r1, n))
        self.x0 = rng.uniform(0, w, n)
        self.y0 = rng.uniform(0, h, n)
        ang = rng.uniform(0, 2 * np.pi, n)
        speed = rng.uniform(v0, v1, n)
        self.vx, self.vy = speed * np.cos(ang), speed * np.sin(ang) - 0.3 * speed  # a gentle upward bias
        self.colours = colours[rng.integers(0, len(colours), n)]
        self.bright = rng.uniform(0.45, 1.0, n).astype(np.float32)
        self.freq = rng.uniform(0.08, 0.3, n)
        self.phase = rng.uniform(0, 2 * np.pi, n)
        self.sprites = [self._sprite(r) * c[None, None, :] for r, c in zip(self.radii, self.colours)]

    @staticmethod
    def _sprite(radius: float) -> np.ndarray:
        size = int(math.ceil(radius)) * 2 + 3
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        d = np.hypot(xx - size // 2, yy - size // 2)
        edge = np.clip((radius - d) / max(radius * 0.22, 0.8), 0.0, 1.0)
        rim = 0.7 + 0.3 * np.clip(d / radius, 0, 1) ** 4
        return (edge * rim).astype(np.float32)[:, :, None]

    def draw(self, buf: np.ndarray, t_s: float, loud: float, pulse: float) -> None:
        h, w = self.h, self.w
        amount = self.opacity * (1.0 + self.gain * loud)
        levels = amount * self.bright * (0.7 + 0.3 * np.sin(2 * np.pi * self.freq * t_s + self.phase))
        for k, sprite in enumerate(self.sprites):
            s = sprite.shape[0]
            span_x, span_y = w + s, h + s
            x = int((self.x0[k] + self.vx[k] * t_s) % span_x) - s
            y = int((self.y0[k] + self.vy[k] * t_s) % span_y) - s
            x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + s, w), min(y + s, h)
            if x1 <= x0 or y1 <= y0:
                continue
            buf[y0:y1, x0:x1] += sprite[y0 - y:y1 - y, x0 - x:x1 - x] * levels[k]


class _Particles(_Layer):
    """Point particles splatted (bilinear, so motion is smooth) into the half-resolution buffer, which
    is blurred once afterwards: every particle becomes a soft glowing dot."""

    res = "half"

    def __init__(self, spec: dict, w: int, h: int, unit: float, rng: np.random.Generator) -> None:
        self.w, self.h = w, h
        self.n = max(1, int(spec.get("count", 100)))
        base = _rgb(spec.get("colour"), (255, 200, 150))
        jitter = float(spec.get("colour_jitter", 0.1))
        shade = rng.uniform(-jitter, jitter, (self.n, 1)).astype(np.float32)
        self.colours = np.clip(base[None, :] * (1.0 + shade * np.array([0.2, 1.0, 1.5], np.float32)), 0, 255)
        s0, s1 = (float(v) for v in spec.get("size_px", (1.0, 2.5)))
        sizes = rng.uniform(s0, s1, self.n).astype(np.float32)
        self.weight = (sizes / ((s0 + s1) / 2.0)) ** 2
        self.brightness = float(spec.get("brightness", 1.0))
        self.gain = float(spec.get("loudness_gain", 0.0))
        self.base_fraction = float(spec.get("base_fraction", 1.0))
        self.rank = rng.permutation(self.n).astype(np.float32) / self.n
        self.flick_hz = rng.uniform(1.5, 5.0, self.n).astype(np.float32)
        self.flick_phase = rng.uniform(0, 2 * np.pi, self.n).astype(np.float32)
        # Flat offsets of the four bilinear neighbours' three channels from a particle's pixel.
        self._offsets = (np.array([0, 3, 3 * w, 3 * w + 3], np.intp)[:, None] + np.arange(3, dtype=np.intp))

    def positions(self, t_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, y, visibility) in half-resolution pixels."""
        raise NotImplementedError

    def draw(self, buf: np.ndarray, t_s: float, loud: float, pulse: float, *, sigma: float = 1.0) -> None:
        x, y, vis = self.positions(t_s)
        active = self.rank < self.base_fraction + (1.0 - self.base_fraction) * loud
        level = (vis * active * self.weight * (self.brightness * (1.0 + self.gain * loud) * (1.0 + 0.4 * pulse))
                 * (2.0 * np.pi * sigma * sigma))
        keep = (level > 1e-3) & (x >= 0) & (y >= 0) & (x < self.w - 1) & (y < self.h - 1)
        if not np.any(keep):
            return
        x, y, level = x[keep], y[keep], level[keep]
        xi, yi = x.astype(np.intp), y.astype(np.intp)
        fx, fy = x - xi, y - yi
        # Bilinear weights of the four neighbours (n, 4), and every channel of them as one flat index:
        # NumPy's unbuffered add (particles may share a pixel) is several times faster on a 1-D target.
        wx = np.stack([1 - fx, fx, 1 - fx, fx], axis=1)
        wy = np.stack([1 - fy, 1 - fy, fy, fy], axis=1)
        weights = wx * wy * level[:, None]
        idx = ((yi * self.w + xi) * 3)[:, None, None] + self._offsets  # (n, 4, 3)
        val = weights[:, :, None] * self.colours[keep][:, None, :]
        np.add.at(buf.reshape(-1), idx.ravel(), val.ravel())


class _Embers(_Particles):
    def __init__(self, spec: dict, w: int, h: int, unit: float, rng: np.random.Generator) -> None:
        super().__init__(spec, w, h, unit, rng)
        r0, r1 = (float(v) * unit for v in spec.get("rise_px_s", (40, 120)))
        self.rise = rng.uniform(r0, r1, self.n).astype(np.float32)
        self.wobble = float(spec.get("wobble_px", 10)) * unit * rng.uniform(0.4, 1.0, self.n).astype(np.float32)
        self.wobble_hz = float(spec.get("wobble_hz", 0.7)) * rng.uniform(0.6, 1.4, self.n).astype(np.float32)
        self.wobble_phase = rng.uniform(0, 2 * np.pi, self.n).astype(np.float32)
        self.drift = rng.uniform(-0.15, 0.35, self.n).astype(np.float32) * self.rise  # a little wind
        self.margin = 8.0
        self.span = h + 2 * self.margin
        self.x0 = rng.uniform(0, w, self.n).astype(np.float32)
        self.y0 = rng.uniform(0, self.span, self.n).astype(np.float32)

    def positions(self, t_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = np.float32(t_s)
        travelled = (self.y0 + self.rise * t) % self.span
        y = self.h + self.margin - travelled
        sway = self.wobble * np.sin(2 * np.pi * self.wobble_hz * t + self.wobble_phase)
        x = (self.x0 + self.drift * t + sway) % self.w
        life = np.clip(1.6 * (1.0 - travelled / self.span), 0.0, 1.0)  # embers cool as they rise
        flick = 0.6 + 0.4 * np.sin(2 * np.pi * self.flick_hz * t + self.flick_phase)
        return x, y, life * flick


class _Dust(_Particles):
    def __init__(self, spec: dict, w: int, h: int, unit: float, rng: np.random.Generator) -> None:
        super().__init__(spec, w, h, unit, rng)
        v0, v1 = (float(v) * unit for v in spec.get("drift_px_s", (4, 10)))
        ang = rng.uniform(0, 2 * np.pi, self.n)
        speed = rng.uniform(v0, v1, self.n)
        self.vx = (speed * np.cos(ang)).astype(np.float32)
        self.vy = (speed * np.sin(ang) + 0.3 * speed).astype(np.float32)  # settling slowly
        self.sway = (rng.uniform(2, 8, self.n) * unit).astype(np.float32)
        self.sway_hz = rng.uniform(0.05, 0.2, self.n).astype(np.float32)
        self.flick_hz = float(spec.get("twinkle_hz", 0.5)) * rng.uniform(0.5, 1.5, self.n).astype(np.float32)
        self.x0 = rng.uniform(0, w, self.n).astype(np.float32)
        self.y0 = rng.uniform(0, h, self.n).astype(np.float32)

    def positions(self, t_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = np.float32(t_s)
        wob = np.sin(2 * np.pi * self.sway_hz * t + self.flick_phase) * self.sway
        x = (self.x0 + self.vx * t + wob) % self.w
        y = (self.y0 + self.vy * t + 0.5 * wob) % self.h
        twinkle = (0.5 + 0.5 * np.sin(2 * np.pi * self.flick_hz * t + self.flick_phase)) ** 2
        return x, y, 0.25 + 0.75 * twinkle


_LAYERS = {"smoke": _Smoke, "rays": _Rays, "bokeh": _Bokeh, "embers": _Embers, "dust": _Dust}


# ----------------------------------------------------------------------------- base pictures


def procedural_background(template: SceneTemplate, width_px: int, height_px: int, seed: int = 0) -> np.ndarray:
    """The template's background picture (no photo): gradient, glow and soft texture; RGB uint8."""
    import cv2

    bg = template.background
    rng = np.random.default_rng(seed + 101)
    h, w = height_px, width_px
    top, bottom = _rgb(bg.get("top"), (30, 30, 30)), _rgb(bg.get("bottom"), (5, 5, 5))
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    img = np.ascontiguousarray(np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3)), dtype=np.float32)
    gx, gy = bg.get("glow_xy", (0.5, 0.5))
    radius = float(bg.get("glow_radius", 0.6)) * math.hypot(w, h)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    glow = np.exp(-(((xx - gx * w) ** 2 + (yy - gy * h) ** 2) / (0.5 * radius * radius)))
    img += glow[:, :, None] * _rgb(bg.get("glow_colour"), (0, 0, 0))
    noise = float(bg.get("noise", 0.0))
    if noise > 0:
        tex = _periodic_noise(rng, max(8, h // 16), max(8, w // 16), max(2, h // 64))
        tex = cv2.resize(tex[: max(8, h // 16), : max(8, w // 16)], (w, h), interpolation=cv2.INTER_CUBIC)
        img *= (1.0 + noise * (tex - 0.5))[:, :, None]
    return np.ascontiguousarray(np.clip(img + 0.5, 0, 255), dtype=np.uint8)


def prepare_photo(img: np.ndarray, template: SceneTemplate, width_px: int, height_px: int
                  ) -> tuple[np.ndarray, tuple[float, float]]:
    """A photo fitted to cover the frame around its face (or most salient spot), with the template's soft
    focus and saturation; returns the picture and the focus point in frame pixels (the push-in centre)."""
    import cv2

    from engines.video.frames import cover, cover_box, find_focus, fit

    photo = template.photo
    focus = find_focus(img)
    if photo.get("fit", "cover") == "blur_fill":
        # The whole photo, centred, over a darkened blurred copy of itself filling the frame.
        base = cover(img, width_px, height_px, (focus.x, focus.y))
        base = cv2.GaussianBlur(base, (0, 0), max(2.0, 0.03 * height_px))
        base = cv2.convertScaleAbs(base, alpha=0.45)
        scale = min(width_px / img.shape[1], height_px / img.shape[0])
        nw, nh = max(1, int(round(img.shape[1] * scale))), max(1, int(round(img.shape[0] * scale)))
        x0, y0 = (width_px - nw) // 2, (height_px - nh) // 2
        base[y0:y0 + nh, x0:x0 + nw] = fit(img, nw, nh)
        fx, fy = x0 + focus.x * nw, y0 + focus.y * nh
    else:
        x, y, cw, ch = cover_box(img.shape[1], img.shape[0], width_px, height_px, (focus.x, focus.y))
        base = cover(img, width_px, height_px, (focus.x, focus.y))
        fx = (focus.x * img.shape[1] - x) / cw * width_px
        fy = (focus.y * img.shape[0] - y) / ch * height_px
    soft = float(photo.get("soft_focus", 0.0))
    blur_px = float(photo.get("blur_px", 0)) * height_px / REFERENCE_HEIGHT_PX
    if soft > 0 and blur_px > 0:
        blurred = cv2.GaussianBlur(base, (0, 0), blur_px)
        base = cv2.addWeighted(base, 1.0 - soft, blurred, soft, 0.0)
        # A little bloom: the blurred highlights glow over the picture.
        cv2.add(base, cv2.multiply(blurred, np.full_like(blurred, int(90 * soft)), scale=1 / 255.0), dst=base)
    saturate(base, float(photo.get("saturation", 1.0)))
    return base, (float(np.clip(fx, 0, width_px - 1)), float(np.clip(fy, 0, height_px - 1)))


# ----------------------------------------------------------------------------- the renderer


def _copy(src, dst) -> None:
    """Copy an RGB array, or a tuple of planes, into its like."""
    if isinstance(dst, tuple):
        for a, b in zip(src, dst):
            b[...] = a
    else:
        dst[...] = src


def _mix(out, other, w_other: float) -> None:
    """out = (1 - w_other) * out + w_other * other, for an RGB array or a tuple of I420 planes."""
    import cv2

    for a, b in (zip(out, other) if isinstance(out, tuple) else ((out, other),)):
        cv2.addWeighted(a, 1.0 - w_other, b, w_other, 0.0, dst=a)


class SceneRenderer:
    """Draws frames of one scene: `frame(i)` -> RGB uint8 (H, W, 3), for any i, deterministic per seed.

    template: a name from assets/scene_templates.json or a SceneTemplate; size: "1280x720", (w, h) or a
    VideoSize; fps: frames per second; features: the soundtrack's AudioFeatures (None: no audio
    reaction); images: photo paths or RGB arrays shown in turn (None: the procedural background)."""

    def __init__(self, template: str | SceneTemplate, size, fps: int, features: AudioFeatures | None,
                 images: list | None = None, seed: int = 0, letterbox: bool | None = None) -> None:
        import cv2

        self.template = get_template(template)
        self.size: VideoSize = parse_size(size)[0]
        self.width_px, self.height_px = self.size.width_px, self.size.height_px
        self.fps = int(fps)
        self.seed = int(seed)
        self.features = features
        self._f = _Features(features)
        w, h = self.width_px, self.height_px
        self.scale = h / REFERENCE_HEIGHT_PX
        tpl = self.template
        rng = np.random.default_rng(self.seed)
        # The picture: the whole frame, or with letterbox the band between the black bars (rows
        # bar .. bar + ph); everything below is drawn at the picture's size.
        self.letterbox = tpl.letterbox if letterbox is None else bool(letterbox)
        self.bar = letterbox_bar_px(w, h) if self.letterbox else 0
        ph = h - 2 * self.bar
        self.picture_height_px = ph

        # Base pictures and their push-in centres.
        self.bases: list[np.ndarray] = []
        self.centres: list[tuple[float, float]] = []
        for item in images or []:
            if isinstance(item, np.ndarray):
                img = item
            else:
                from core.image import load_image

                img = load_image(item)
            base, centre = prepare_photo(img, tpl, w, ph)
            self.bases.append(base)
            self.centres.append(centre)
        if not self.bases:
            self.bases.append(procedural_background(tpl, w, ph, self.seed))
            self.centres.append((w / 2.0, ph * 0.45))
        for base in self.bases:  # the template's grade, once per picture
            apply_grade(base, tpl.grade)
        # Sub-pixel pan/zoom views (four shifted copies each) of the pictures on screen now, made when
        # first needed and dropped when their photo is over: see _view.
        self._views: dict[int, object] = {}
        self._views_yuv: dict[int, object] = {}
        # Drawing in YUV (frame_yuv): a second picture's planes for crossfades and the finishing steps
        # (light, vignette, flash); made on the first YUV frame.
        self._work_yuv = self._finish_yuv = None
        duration = features.duration_s if features is not None else DEFAULT_SECONDS_PER_IMAGE * len(self.bases)
        self.segment_s = duration / len(self.bases)
        self.crossfade_s = min(CROSSFADE_S, 0.3 * self.segment_s)

        # Layers: quarter-resolution light and half-resolution particles.
        # Particles are splatted at half resolution; below 540 px high at full resolution (a half-resolution
        # dot would be too big there).
        self.pdiv = 2 if h >= PARTICLES_HALF_RES_FROM_PX else 1
        self.qw, self.qh = max(8, w // 4), max(8, ph // 4)
        self.hw, self.hh = w // self.pdiv, ph // self.pdiv
        self.layers: list[_Layer] = []
        for spec in tpl.layers:
            cls = _LAYERS[spec["kind"]]
            if cls.res == "quarter":
                self.layers.append(cls(spec, self.qw, self.qh, self.scale * self.qw / w, rng))
            else:
                self.layers.append(cls(spec, self.hw, self.hh, self.scale / self.pdiv, rng))
        self._quarter = np.zeros((self.qh, self.qw, 3), np.float32) if any(
            l.res == "quarter" for l in self.layers) else None
        self._half = np.zeros((self.hh, self.hw, 3), np.float32) if any(l.res == "half" for l in self.layers) else None
        self._quarter_u8 = np.zeros((self.qh, self.qw, 3), np.uint8)
        self._half_u8 = np.zeros((self.hh, self.hw, 3), np.uint8)
        self._overlay = np.zeros((ph, w, 3), np.uint8)
        self._work = np.zeros((ph, w, 3), np.uint8)
        # The view of the last frame's camera, and a copy of it once the camera holds still.
        self._last_warp_key: tuple | None = None
        self._still: np.ndarray | None = None
        self.sigma_half = max(0.6, 1.8 * self.scale / self.pdiv)
        # Kernel to 2.2 sigma: the Gaussian's tails beyond hold under 3 % of a dot's light (OpenCV's
        # default for float, 4 sigma, costs twice as much for no visible difference).
        self.blur_ksize = 2 * math.ceil(2.2 * self.sigma_half) + 1

        # Camera: zoom margin so shake and drift never show the picture's edge.
        cam = tpl.camera
        reach = (cam.shake_px + cam.drift_px) * self.scale
        self.zoom_margin = 1.0 + (2.2 * reach / min(w, ph) if reach > 0 else 0.0) + math.radians(cam.shake_deg) * 0.9
        self._half_diagonal_px = math.hypot(w, ph) / 2.0
        self.kick_angles = rng.uniform(0, 2 * np.pi, 1024)
        self.kick_signs = rng.choice([-1.0, 1.0], 1024)
        self.flicker_phase = rng.uniform(0, 2 * np.pi, 3)

        self.vignette = (vignette_mask(w, ph, tpl.vignette_strength, tpl.vignette_softness)
                         if tpl.vignette_strength > 0 else None)
        self.grain = Grain(w, ph, tpl.grain, self.seed) if tpl.grain > 0 else None
        self._cv2 = cv2

    # -- per-frame pieces

    def camera_matrix(self, i: int, local_t_s: float, centre: tuple[float, float]) -> np.ndarray:
        """The 2x3 affine matrix taking the base picture to frame i (zoom about `centre`, drift, kick)."""
        cam = self.template.camera
        t = i / self.fps
        zoom = min(cam.max_zoom, 1.0 + cam.push_in_per_s * local_t_s) * self.zoom_margin
        dx = dy = angle = 0.0
        if cam.drift_px > 0:
            ph = 2 * np.pi * t / max(cam.drift_period_s, 0.1)
            dx += cam.drift_px * self.scale * math.sin(ph)
            dy += 0.6 * cam.drift_px * self.scale * math.cos(0.7 * ph)
        pulse = self._f.pulse(i)
        if pulse > 1e-3 and (cam.shake_px > 0 or cam.shake_deg > 0):
            k = self._f.beat_index(i)
            since = t - (self._f.last_beat_s(i) or t)
            tremble = math.cos(2 * np.pi * cam.shake_hz * since)
            a = self.kick_angles[k % len(self.kick_angles)]
            amp = cam.shake_px * self.scale * pulse * tremble
            dx += amp * math.cos(a)
            dy += amp * math.sin(a)
            tilt = max(0.0, (pulse - TILT_FROM_PULSE) / (1.0 - TILT_FROM_PULSE))
            angle = cam.shake_deg * tilt * tremble * self.kick_signs[k % len(self.kick_signs)]
            if abs(math.radians(angle)) * zoom * self._half_diagonal_px < TILT_MIN_PX:
                angle = 0.0
        # As cv2.getRotationMatrix2D(centre, angle, zoom) (angle in degrees, counter-clockwise), without
        # its per-call cost; no rotation terms at all when there is no tilt.
        cx, cy = centre
        if angle == 0.0:
            a, b = zoom, 0.0
        else:
            a, b = zoom * math.cos(math.radians(angle)), zoom * math.sin(math.radians(angle))
        return np.array([[a, b, (1.0 - a) * cx - b * cy + dx],
                         [-b, a, b * cx + (1.0 - a) * cy + dy]])

    def _base_into(self, k: int, i: int, local_t_s: float, out) -> None:
        """Picture k through the camera of frame i into `out`: an RGB array, or a tuple of I420 planes."""
        cv2 = self._cv2
        yuv = isinstance(out, tuple)
        m = self.camera_matrix(i, local_t_s, self.centres[k])
        if m[0, 0] == 1.0 and m[1, 1] == 1.0 and not m[0, 1] and not m[1, 0] and not m[0, 2] and not m[1, 2]:
            if yuv:
                self._view(k, yuv).copy_into(out)
            else:
                out[:] = self.bases[k]
            return
        key = (yuv, k, m.round(6).tobytes())
        if key == self._last_warp_key and self._still is not None:  # a still camera: reuse the last view
            _copy(self._still, out)
            return
        view = self._view(k, yuv)
        if not view.view_affine(m, out):  # a tilted frame (or one past the edge): warp
            if yuv:
                view.warp(m, out)
            else:
                cv2.warpAffine(self.bases[k], m, (self.width_px, self.picture_height_px), dst=out,
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # the fastest border mode
        if key == self._last_warp_key:  # the same view twice running: keep it for the frames to come
            self._still = tuple(p.copy() for p in out) if yuv else out.copy()
        else:
            self._still = None
        self._last_warp_key = key

    def _view(self, k: int, yuv: bool = False):
        """PanZoom (RGB) or PanZoomYuv of picture k; views of pictures other than k's neighbours are
        dropped (memory)."""
        views = self._views_yuv if yuv else self._views
        view = views.get(k)
        if view is None:
            from engines.video.frames import PanZoom
            from engines.video.yuv import PanZoomYuv

            for old in [j for j in views if abs(j - k) > 1]:
                del views[old]
            view = views[k] = PanZoomYuv(self.bases[k]) if yuv else PanZoom(self.bases[k])
        return view

    def _base(self, i: int, out) -> None:
        t = i / self.fps
        n = len(self.bases)
        k = min(n - 1, int(t // self.segment_s)) if n > 1 else 0
        start = k * self.segment_s
        local = t - start + (self.crossfade_s / 2 if k > 0 else 0.0)
        self._base_into(k, i, local, out)
        if n > 1 and self.crossfade_s > 0:
            half = self.crossfade_s / 2
            work = self._work_yuv if isinstance(out, tuple) else self._work
            if k > 0 and t - start < half:  # fading in from the previous photo
                alpha = 0.5 + (t - start) / self.crossfade_s
                prev_local = t - (k - 1) * self.segment_s + (half if k > 1 else 0.0)
                self._base_into(k - 1, i, prev_local, work)
                _mix(out, work, 1 - alpha)
            elif k < n - 1 and (start + self.segment_s) - t < half:  # fading out to the next photo
                alpha = 0.5 - ((start + self.segment_s) - t) / self.crossfade_s
                self._base_into(k + 1, i, t - (k + 1) * self.segment_s + half, work)
                _mix(out, work, alpha)

    def _light(self, i: int) -> np.ndarray | None:
        """The layers of frame i: RGB float32 light at half resolution (quarter without particles), or None."""
        if not self.layers:
            return None
        cv2 = self._cv2
        t = i / self.fps
        loud, pulse = self._f.loudness(i), self._f.pulse(i)
        if self._quarter is not None:
            self._quarter.fill(0.0)
            for layer in self.layers:
                if layer.res == "quarter":
                    layer.draw(self._quarter, t, loud, pulse)
        if self._half is None:
            return self._quarter
        # The soft light, scaled up, is where the particles are splatted: one float buffer, one blur
        # (which makes every splatted point a soft glowing dot and leaves light that soft unchanged).
        # In float: the splats' peaks exceed 255 before the blur spreads them.
        if self._quarter is not None:
            cv2.resize(self._quarter, (self.hw, self.hh), dst=self._half, interpolation=cv2.INTER_LINEAR)
        else:
            self._half.fill(0.0)
        for layer in self.layers:
            if layer.res == "half":
                layer.draw(self._half, t, loud, pulse, sigma=self.sigma_half)
        cv2.GaussianBlur(self._half, (self.blur_ksize, self.blur_ksize), self.sigma_half, dst=self._half)
        return self._half

    def _overlay_into(self, i: int, frame: np.ndarray) -> None:
        light = self._light(i)
        if light is None:
            return
        cv2 = self._cv2
        small = cv2.convertScaleAbs(light, dst=self._half_u8 if light is self._half else self._quarter_u8)
        if small.shape[:2] == frame.shape[:2]:
            cv2.add(frame, small, dst=frame)
            return
        cv2.resize(small, (self.width_px, self.picture_height_px), dst=self._overlay, interpolation=cv2.INTER_LINEAR)
        cv2.add(frame, self._overlay, dst=frame)

    def frame_levels(self, i: int) -> tuple[float, int]:
        """Brightness gain (firelight flicker and beat flash) and the lift of the blacks (0..255) for frame i."""
        tpl = self.template
        t = i / self.fps
        gain = 1.0
        if tpl.flicker_amount > 0 and tpl.flicker_hz > 0:
            w = 2 * np.pi * tpl.flicker_hz * t
            p = self.flicker_phase
            wobble = 0.5 * math.sin(w + p[0]) + 0.3 * math.sin(1.73 * w + p[1]) + 0.2 * math.sin(3.1 * w + p[2])
            gain += tpl.flicker_amount * wobble
        flash = tpl.flash * self._f.pulse(i)
        gain *= 1.0 + 0.8 * flash
        return gain, int(round(70.0 * flash))

    def frame(self, i: int, out: np.ndarray | None = None, grain: bool = True) -> np.ndarray:
        """Frame i (0-based) as RGB uint8 (H, W, 3); drawn into `out` when given (reused buffers).
        grain=False leaves out the film grain, for a caller that adds it to the frame's luma once in
        YUV (`grain_luma`: the same grain at a third of the cost)."""
        cv2 = self._cv2
        i = int(i)
        if out is None:
            out = np.empty((self.height_px, self.width_px, 3), np.uint8)
        bar = self.bar
        pic = out[bar:bar + self.picture_height_px] if bar else out  # a view: drawn in place
        self._base(i, pic)
        self._overlay_into(i, pic)
        gain, lift = self.frame_levels(i)
        if self.vignette is not None:  # vignette and brightness in one saturating multiply
            cv2.multiply(pic, self.vignette, dst=pic, scale=gain / 255.0)
        elif abs(gain - 1.0) > 1e-3:
            cv2.convertScaleAbs(pic, dst=pic, alpha=gain)
        if lift > 0:
            cv2.add(pic, (lift, lift, lift, 0), dst=pic)
        if grain and self.grain is not None:
            self.grain.apply(pic, i)
        if bar:
            apply_letterbox(out)  # the same bars the picture band was sized for
        return out

    @property
    def draws_yuv(self) -> bool:
        """Whether frame_yuv can draw this scene: 4:2:0 needs the picture band on even rows."""
        return self.bar % 2 == 0 and self.width_px % 2 == 0 and self.picture_height_px % 2 == 0

    def frame_yuv(self, i: int, out: np.ndarray | None = None, grain: bool = True) -> np.ndarray:
        """Frame i drawn straight into an I420 array (H * 3 / 2, W) uint8 (`out` when given): the YUV of
        frame(i), up to rounding and chroma siting, at about half the cost (half the samples, and no
        conversion). grain=False leaves out the film grain (see grain_luma)."""
        from engines.video import yuv as Y

        if not self.draws_yuv:
            raise ValueError(f"a {self.width_px}x{self.height_px} frame with {self.bar}-pixel bars has no 4:2:0 "
                             "picture band: use frame()")
        i = int(i)
        if out is None:
            out = Y.i420(self.width_px, self.height_px)
        p = Y.planes(out)
        bar, ph = self.bar, self.picture_height_px
        if bar:
            Y.fill_black(Y.band(p, 0, bar))
            Y.fill_black(Y.band(p, bar + ph, bar))
        pic = Y.band(p, bar, ph)
        if self._work_yuv is None:
            self._work_yuv = Y.planes(Y.i420(self.width_px, ph))
            light_res = self._half if self._half is not None else self._quarter
            self._finish_yuv = Y.Finish(light_res.shape[:2] if light_res is not None else None,
                                        (ph, self.width_px), self.vignette)
        self._base(i, pic)
        gain, lift = self.frame_levels(i)
        self._finish_yuv.apply(pic, self._light(i), gain, lift)
        if grain and self.grain is not None:
            self.grain.apply_luma(pic[0], i)
        return out

    def grain_luma(self, yuv: np.ndarray, i: int) -> np.ndarray:
        """Film grain of frame i on an I420 frame's luma (the picture's rows only: bars stay black), in place."""
        if self.grain is not None:
            self.grain.apply_luma(yuv[self.bar:self.bar + self.picture_height_px], i)
        return yuv

    @property
    def n_frames(self) -> int:
        return self.features.n_frames if self.features is not None else 0
