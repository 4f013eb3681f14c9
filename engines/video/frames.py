"""Frame helpers, all vectorised (OpenCV / numpy, no per-pixel Python loops): fitting an image to a
size, finding where to look (a face, else the most salient spot, else the centre), crop-zoom windows
for pan and zoom, and transitions (crossfade, fade through black, slide, wipe).

Frames are RGB uint8 arrays (height, width, 3)."""

from __future__ import annotations

import bisect
import logging
import math
from dataclasses import dataclass

import numpy as np

from engines.registry import MODELS

log = logging.getLogger(__name__)

# Transitions between two shots; "none" is a hard cut.
TRANSITIONS = ("none", "crossfade", "fade", "slide", "wipe")
# Detection runs on a copy scaled so its longer side is at most this many pixels (cheap, still finds faces).
DETECT_SIDE_PX = 640


def _resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    if (w, h) == (width, height):
        return np.ascontiguousarray(img)
    interp = cv2.INTER_AREA if width * height < w * h else cv2.INTER_CUBIC
    return cv2.resize(img, (int(width), int(height)), interpolation=interp)


def fit(img: np.ndarray, width: int, height: int, background: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """The whole image scaled to fit inside width x height, centred, bars of `background` (letterbox)."""
    h, w = img.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(1, min(width, int(round(w * scale)))), max(1, min(height, int(round(h * scale))))
    out = np.empty((height, width, 3), np.uint8)
    out[:] = np.asarray(background, np.uint8)
    x0, y0 = (width - nw) // 2, (height - nh) // 2
    out[y0:y0 + nh, x0:x0 + nw] = _resize(img, nw, nh)
    return out


def cover_box(img_w: int, img_h: int, width: int, height: int, focus: tuple[float, float] = (0.5, 0.5)
              ) -> tuple[int, int, int, int]:
    """The largest (x, y, w, h) window of the image's aspect width:height, centred on `focus`
    (fractions of the image) as far as the edges allow."""
    aspect = width / height
    cw, ch = (img_w, img_w / aspect) if img_w / img_h <= aspect else (img_h * aspect, img_h)
    cw, ch = min(img_w, int(round(cw))), min(img_h, int(round(ch)))
    x = int(round(min(max(focus[0] * img_w - cw / 2.0, 0), img_w - cw)))
    y = int(round(min(max(focus[1] * img_h - ch / 2.0, 0), img_h - ch)))
    return x, y, cw, ch


def cover(img: np.ndarray, width: int, height: int, focus: tuple[float, float] = (0.5, 0.5)) -> np.ndarray:
    """The image cropped to the size's aspect around `focus` (fractions) and scaled to fill width x height."""
    x, y, cw, ch = cover_box(img.shape[1], img.shape[0], width, height, focus)
    return _resize(img[y:y + ch, x:x + cw], width, height)


@dataclass(frozen=True)
class Focus:
    # Point to keep in view, as fractions of the image width and height.
    x: float
    y: float
    # The face box (x, y, w, h) in image pixels when a face was found, else None.
    face_box: tuple[int, int, int, int] | None
    # "face", "saliency" or "centre": how the point was chosen.
    source: str


def _face_cascade():
    import cv2

    def load():
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise RuntimeError(f"the Haar cascade {path} did not load")
        return cascade

    return MODELS.get("opencv-haar-frontalface", load)


def find_faces(img: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h) in image pixels, largest first (OpenCV Haar cascade, frontal faces)."""
    import cv2

    h, w = img.shape[:2]
    scale = min(1.0, DETECT_SIDE_PX / max(h, w))
    small = _resize(img, max(1, int(w * scale)), max(1, int(h * scale))) if scale < 1 else img
    gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
    try:
        cascade = _face_cascade()
    except Exception:  # no cascade file in this OpenCV build: callers fall back to saliency
        log.warning("face detection unavailable", exc_info=True)
        return []
    side = min(gray.shape[:2])
    found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(max(24, side // 12),) * 2)
    boxes = [tuple(int(round(v / scale)) for v in box) for box in (found if len(found) else [])]
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def _saliency_point(img: np.ndarray) -> tuple[float, float] | None:
    import cv2

    if not hasattr(cv2, "saliency"):
        return None
    h, w = img.shape[:2]
    scale = min(1.0, 256 / max(h, w))
    small = _resize(img, max(8, int(w * scale)), max(8, int(h * scale)))
    detector = cv2.saliency.StaticSaliencySpectralResidual_create()
    ok, sal = detector.computeSaliency(cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    if not ok:
        return None
    sal = cv2.GaussianBlur(sal.astype(np.float32), (0, 0), 3)
    total = float(sal.sum())
    if total <= 1e-6:
        return None
    ys, xs = np.mgrid[0:sal.shape[0], 0:sal.shape[1]]
    cx = float((xs * sal).sum() / total) / sal.shape[1]
    cy = float((ys * sal).sum() / total) / sal.shape[0]
    # Pull toward the centre: the weighted mean of a busy image is noisy.
    return 0.5 + 0.7 * (cx - 0.5), 0.5 + 0.7 * (cy - 0.5)


def find_focus(img: np.ndarray) -> Focus:
    """Where a pan/zoom should head: the largest face's centre (a little above it, the eyes), else the
    saliency centre (spectral residual), else the image centre."""
    h, w = img.shape[:2]
    faces = find_faces(img)
    if faces:
        x, y, fw, fh = faces[0]
        return Focus((x + fw / 2.0) / w, (y + fh * 0.45) / h, faces[0], "face")
    point = _saliency_point(img)
    if point is not None:
        return Focus(min(max(point[0], 0.0), 1.0), min(max(point[1], 0.0), 1.0), None, "saliency")
    return Focus(0.5, 0.5, None, "centre")


def crop_zoom(img: np.ndarray, width: int, height: int, center: tuple[float, float], zoom: float) -> np.ndarray:
    """A width x height view of `img` (already of the output aspect) magnified `zoom` times (>= 1) around
    `center` (image pixels), the window kept inside the image. One cv2.warpAffine, bilinear (area
    averaging below 0.7x); PanZoom makes the same views cheaper when many are cut from one picture."""
    import cv2

    x0, y0, step_x, step_y = _zoom_window(img.shape[1], img.shape[0], width, height, center, zoom)
    s, sy = 1.0 / step_x, 1.0 / step_y
    m = np.array([[s, 0.0, -s * x0], [0.0, sy, -sy * y0]], np.float32)
    interp = cv2.INTER_AREA if s < 0.7 else cv2.INTER_LINEAR
    # The window stays inside the image, so the border mode only decides the last pixel's neighbour:
    # BORDER_REPLICATE is OpenCV's fastest path (a third faster than BORDER_REFLECT at 1080p).
    return cv2.warpAffine(img, m, (int(width), int(height)), flags=interp, borderMode=cv2.BORDER_REPLICATE)


class PanZoom:
    """Scaled windows of one picture at sub-pixel positions (pan and zoom without rotation), each one
    cv2.resize of a whole-pixel window: about half the cost of the equivalent cv2.warpAffine.

    cv2.resize can only start a window on a whole pixel, which would make slow pans step. So the
    picture is kept in four copies shifted by a quarter and three quarters of a pixel each way (cubic,
    so every copy is equally sharp); each view is cut from the copy whose shift is nearest to the
    window's fraction and scaled so its centre pixel is exact (see _axis): the middle of the picture
    glides, and nothing lands more than a quarter pixel off even at the edges. Memory: four copies of
    the picture (plus a small border)."""

    # Shifts of the copies, in source pixels, on each axis.
    PHASES = (0.25, 0.75)
    # Replicated border around each copy, pixels (views may reach a little past the edges).
    PAD = 4

    def __init__(self, img: np.ndarray) -> None:
        import cv2

        self.height_px, self.width_px = img.shape[:2]
        self._scratch: np.ndarray | None = None
        p = self.PAD
        padded = cv2.copyMakeBorder(np.ascontiguousarray(img), p, p, p, p, cv2.BORDER_REPLICATE)
        # (phase_x, phase_y) -> copy with copy[y, x] = img[y - PAD + phase_y, x - PAD + phase_x]: a separable
        # 4-tap cubic filter (taps at -1, 0, +1, +2), several times cheaper than a bicubic warp.
        taps = {p: _cubic_taps(p) for p in self.PHASES}
        self.copies: dict[tuple[float, float], np.ndarray] = {}
        for py in self.PHASES:
            for px in self.PHASES:
                self.copies[(px, py)] = cv2.sepFilter2D(padded, -1, taps[px], taps[py], anchor=(1, 1),
                                                        borderType=cv2.BORDER_REPLICATE)

    def _axis(self, origin: float, step: float, out_len: int, src_len: int
              ) -> tuple[int, int, float, float, int] | None:
        """(first pixel in the padded copy, window length, phase, resize factor, extra output pixels) for
        output pixels d that should sample the source at origin + d * step; None when the window leaves
        the copy.

        cv2.resize samples window pixel (d + 0.5) / factor - 0.5, so a window starting on a whole pixel of
        the copy lands up to a quarter pixel off. The factor is nudged (by under 0.05 % at 720p) so that
        the middle output pixel samples exactly where it should: the picture's centre moves smoothly and
        the quarter-pixel error only appears, shrinking to zero, toward the edges. cv2.resize makes
        round(length * factor) pixels; when magnifying, no window length may give exactly out_len, and
        then the view is made one pixel longer (extra = 1) and cut."""
        start = origin - 0.5 * step + 0.5  # where the window would start, in source pixels
        whole = math.floor(start)
        phase = self.PHASES[0] if start - whole < 0.5 else self.PHASES[1]
        err = start - (whole + phase)  # -0.25 .. 0.25
        anchor = (out_len - 1) / 2.0
        used_step = step + err / (anchor + 0.5)  # exact at the anchor pixel
        if used_step < 0.5:  # more than 2x magnification: the longer view below may not exist
            return None
        factor = 1.0 / used_step
        first = whole + self.PAD
        for extra in (0, 1):
            target = out_len + extra
            # Prefer a window long enough that the last output pixel still interpolates inside it.
            length = max(1, math.ceil((target - 0.5) * used_step + 0.5))
            for cand in (length, length - 1, length + 1):
                if cand >= 1 and int(np.rint(cand * factor)) == target:  # round half to even, as OpenCV
                    if first < 0 or first + cand > src_len + 2 * self.PAD:
                        return None
                    return first, cand, phase, factor, extra
        return None

    def view(self, x0: float, y0: float, step_x: float, step_y: float, out: np.ndarray) -> bool:
        """Fill `out` (H, W, C) so out[y, x] = img[y0 + y * step_y, x0 + x * step_x] (source pixel indices,
        bilinear, within a quarter pixel). False, leaving `out` alone, when the window leaves the picture."""
        import cv2

        oh, ow = out.shape[:2]
        ax = self._axis(x0, step_x, ow, self.width_px)
        ay = self._axis(y0, step_y, oh, self.height_px)
        if ax is None or ay is None:
            return False
        fx0, lx, px, sx, ex = ax
        fy0, ly, py, sy, ey = ay
        window = self.copies[(px, py)][fy0:fy0 + ly, fx0:fx0 + lx]
        if ex or ey:  # one pixel longer than asked on some axis: into a scratch buffer, then cut
            shape = (oh + ey, ow + ex) + out.shape[2:]
            if self._scratch is None or self._scratch.shape != shape or self._scratch.dtype != out.dtype:
                self._scratch = np.empty(shape, out.dtype)
            got = cv2.resize(window, (0, 0), dst=self._scratch, fx=sx, fy=sy, interpolation=cv2.INTER_LINEAR)
            out[...] = got[:oh, :ow]
            return True
        got = cv2.resize(window, (0, 0), dst=out, fx=sx, fy=sy, interpolation=cv2.INTER_LINEAR)
        if got is not out and not np.shares_memory(got, out):  # never expected: sizes are checked above
            out[:] = got
        return True

    def view_affine(self, m: np.ndarray, out: np.ndarray) -> bool:
        """`out` = cv2.warpAffine(img, m, out size) for a 2x3 matrix without rotation or shear (a zoom and
        a shift); False when `m` rotates or the view leaves the picture."""
        if abs(m[0, 1]) > 1e-9 or abs(m[1, 0]) > 1e-9 or m[0, 0] <= 0 or m[1, 1] <= 0:
            return False
        # warpAffine: out[y, x] = img[(y - ty) / sy, (x - tx) / sx].
        return self.view(-m[0, 2] / m[0, 0], -m[1, 2] / m[1, 1], 1.0 / m[0, 0], 1.0 / m[1, 1], out)

    def crop_zoom(self, width: int, height: int, center: tuple[float, float], zoom: float,
                  out: np.ndarray | None = None) -> np.ndarray:
        """As `crop_zoom(img, ...)`, into `out` when given."""
        if out is None:
            out = np.empty((int(height), int(width), 3), np.uint8)
        x0, y0, step_x, step_y = _zoom_window(self.width_px, self.height_px, width, height, center, zoom)
        if not self.view(x0, y0, step_x, step_y, out):  # pragma: no cover - the window is kept inside
            raise ValueError("the pan/zoom window left the picture")
        return out


def _cubic_taps(phase: float, a: float = -0.5) -> np.ndarray:
    """Weights of a Keys cubic (a = -0.5, Catmull-Rom) sampling at `phase` (0..1) past a pixel, for the
    four pixels at -1, 0, +1 and +2 from it; they sum to 1."""

    def k(t: float) -> float:
        t = abs(t)
        if t <= 1:
            return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
        if t < 2:
            return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a
        return 0.0

    w = np.array([k(1 + phase), k(phase), k(1 - phase), k(2 - phase)], np.float32)
    return w / w.sum()


def _zoom_window(w: int, h: int, width: int, height: int, center: tuple[float, float], zoom: float
                 ) -> tuple[float, float, float, float]:
    """(x0, y0, step_x, step_y) of crop_zoom's view: output pixel (x, y) samples source (x0 + x * step_x,
    y0 + y * step_y), the window w/zoom x h/zoom kept inside the picture."""
    zoom = max(1.0, float(zoom))
    win_w, win_h = w / zoom, h / zoom
    cx = min(max(center[0], win_w / 2.0), w - win_w / 2.0)
    cy = min(max(center[1], win_h / 2.0), h - win_h / 2.0)
    step_x, step_y = win_w / width, win_h / height
    return cx - width / 2.0 * step_x, cy - height / 2.0 * step_y, step_x, step_y


def crossfade(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """(1 - alpha) * a + alpha * b, rounded: alpha 0 is `a`, 1 is `b`."""
    import cv2

    alpha = min(max(float(alpha), 0.0), 1.0)
    if alpha <= 0.0:
        return a
    if alpha >= 1.0:
        return b
    return cv2.addWeighted(a, 1.0 - alpha, b, alpha, 0.0)


def fade_black(frame: np.ndarray, level: float) -> np.ndarray:
    """The frame scaled by `level` (1 = unchanged, 0 = black): fade to or from black."""
    import cv2

    level = min(max(float(level), 0.0), 1.0)
    if level >= 1.0:
        return frame
    return cv2.convertScaleAbs(frame, alpha=level)


def slide(a: np.ndarray, b: np.ndarray, progress: float) -> np.ndarray:
    """`b` pushes `a` out to the left, entering from the right edge (progress 0..1)."""
    w = a.shape[1]
    shift = int(round(min(max(progress, 0.0), 1.0) * w))
    if shift <= 0:
        return a
    if shift >= w:
        return b
    return np.concatenate([a[:, shift:], b[:, :shift]], axis=1)


def wipe(a: np.ndarray, b: np.ndarray, progress: float, soft_px: int = 24) -> np.ndarray:
    """`b` revealed left to right behind a soft vertical edge."""
    h, w = a.shape[:2]
    p = min(max(progress, 0.0), 1.0)
    edge = p * (w + soft_px) - soft_px / 2.0
    x = np.arange(w, dtype=np.float32)
    mask = np.clip((edge - x) / max(soft_px, 1) + 0.5, 0.0, 1.0)[None, :, None]
    out = a.astype(np.float32) * (1.0 - mask) + b.astype(np.float32) * mask
    return (out + 0.5).astype(np.uint8)


def transition(kind: str, a: np.ndarray, b: np.ndarray, progress: float) -> np.ndarray:
    """Frame `progress` (0..1) of the way from shot `a` to shot `b`."""
    p = min(max(float(progress), 0.0), 1.0)
    if kind == "crossfade":
        return crossfade(a, b, p)
    if kind == "fade":
        return fade_black(a, 1.0 - 2.0 * p) if p < 0.5 else fade_black(b, 2.0 * p - 1.0)
    if kind == "slide":
        return slide(a, b, p * p * (3.0 - 2.0 * p))
    if kind == "wipe":
        return wipe(a, b, p)
    return a if p < 0.5 else b


@dataclass(frozen=True)
class Shot:
    """Where frame time t falls in a sequence of shots with transitions centred on each cut."""
    # Index of the shot shown (the outgoing one during a transition).
    index: int
    # The incoming shot during a transition, else None.
    next_index: int | None
    # How far the transition has gone, 0..1 (0 when not in a transition).
    progress: float


def shot_at(t_s: float, starts_s: list[float], end_s: float, transition_s: float) -> Shot:
    """The shot at time `t_s` given each shot's start (sorted; the first is 0) and the total end.
    A transition of `transition_s` is centred on each cut (shortened to fit half of each shot)."""
    n = len(starts_s)
    k = max(0, min(n - 1, bisect.bisect_right(starts_s, t_s) - 1))
    bounds = list(starts_s) + [end_s]

    def half(cut: int) -> float:  # half-length of the transition at the start of shot `cut`
        if cut <= 0 or cut >= n or transition_s <= 0:
            return 0.0
        return min(transition_s / 2.0, (bounds[cut] - bounds[cut - 1]) / 2.0, (bounds[cut + 1] - bounds[cut]) / 2.0)

    h = half(k + 1)
    if h > 0 and t_s >= bounds[k + 1] - h:
        return Shot(k, k + 1, (t_s - (bounds[k + 1] - h)) / (2.0 * h))
    h = half(k)
    if h > 0 and t_s < bounds[k] + h:
        return Shot(k - 1, k, (t_s - (bounds[k] - h)) / (2.0 * h))
    return Shot(k, None, 0.0)


def shot_span(index: int, starts_s: list[float], end_s: float, transition_s: float) -> tuple[float, float]:
    """The time a shot is on screen at all, transitions included: (first_s, last_s)."""
    bounds = list(starts_s) + [end_s]
    n = len(starts_s)
    before = min(transition_s / 2.0, (bounds[index] - bounds[index - 1]) / 2.0,
                 (bounds[index + 1] - bounds[index]) / 2.0) if index > 0 and transition_s > 0 else 0.0
    after = min(transition_s / 2.0, (bounds[index + 1] - bounds[index]) / 2.0,
                (bounds[index + 2] - bounds[index + 1]) / 2.0) if index + 1 < n and transition_s > 0 else 0.0
    return bounds[index] - before, bounds[index + 1] + after
