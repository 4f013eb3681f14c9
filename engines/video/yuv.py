"""Drawing straight into YUV 4:2:0 frames (I420, BT.601 studio range: what the video writer sends x264).

A 4:2:0 frame holds 1.5 samples a pixel against RGB's 3, and drawing in it skips the RGB -> YUV
conversion of every frame: pictures are moved (pan, zoom, tilt) plane by plane, light is added as
luma and chroma steps, and the vignette scales luma and chroma about black and grey. Everything here
is linear in RGB, so a frame drawn in YUV is, up to rounding and chroma siting, the YUV of the frame
drawn in RGB; the tests hold the two paths together.

Chroma siting: cv2's RGB -> I420 takes each chroma sample from the top-left pixel of its 2x2 block (it
does not average), so chroma pixel j sits on luma pixel 2 j; everything here keeps that siting.
"""

from __future__ import annotations

import numpy as np

from engines.video.encode import to_yuv
from engines.video.frames import PanZoom

# RGB (0..255) -> BT.601 studio-range Y'CbCr steps (what cv2.COLOR_RGB2YUV_I420 computes, without the
# offsets 16 and 128): rows Y, U, V.
RGB_TO_YUV = np.array([[0.256788, 0.504129, 0.097906],
                       [-0.148223, -0.290993, 0.439216],
                       [0.439216, -0.367788, -0.071427]], np.float32)
BLACK_Y, GREY_C = 16, 128


def i420(width_px: int, height_px: int) -> np.ndarray:
    """A new I420 frame: (height * 3 / 2, width) uint8."""
    return np.empty((height_px * 3 // 2, width_px), np.uint8)


def planes(yuv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views (Y (H, W), U (H/2, W/2), V (H/2, W/2)) of an I420 frame."""
    if not yuv.flags.c_contiguous:
        raise ValueError("an I420 frame is one contiguous array")
    h, w = yuv.shape[0] * 2 // 3, yuv.shape[1]
    flat = yuv.reshape(-1)  # a view: the chroma planes need not fill whole rows of the array
    c = (h // 2) * (w // 2)
    return flat[:h * w].reshape(h, w), flat[h * w:h * w + c].reshape(h // 2, w // 2), \
        flat[h * w + c:h * w + 2 * c].reshape(h // 2, w // 2)


def band(p: tuple[np.ndarray, np.ndarray, np.ndarray], top: int, rows: int
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows top .. top + rows of each plane (top and rows even)."""
    if top % 2 or rows % 2:
        raise ValueError(f"a 4:2:0 band starts and ends on even rows, got {top} + {rows}")
    y, u, v = p
    return y[top:top + rows], u[top // 2:(top + rows) // 2], v[top // 2:(top + rows) // 2]


def fill_black(p: tuple[np.ndarray, ...]) -> None:
    y, u, v = p
    y.fill(BLACK_Y)
    u.fill(GREY_C)
    v.fill(GREY_C)


def to_rgb(yuv: np.ndarray) -> np.ndarray:
    """An I420 frame as RGB uint8 (H, W, 3) (for posters and checks)."""
    import cv2

    return cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420)


def chroma_matrix(m: np.ndarray) -> np.ndarray:
    """The 2x3 source -> output matrix of the chroma planes for luma matrix `m` (same scale and rotation;
    chroma pixel j on luma pixel 2 j, so only the shift halves)."""
    c = np.array(m, np.float64)
    c[:, 2] /= 2.0
    return c


class PanZoomYuv:
    """PanZoom (sub-pixel pan and zoom by cv2.resize) on the planes of a picture in I420: an RGB
    picture (even width and height) is converted once; views fill the planes of an output band."""

    def __init__(self, rgb: np.ndarray) -> None:

        h, w = rgb.shape[:2]
        if h % 2 or w % 2:
            raise ValueError(f"a 4:2:0 picture has even sides, got {w}x{h}")
        self.width_px, self.height_px = w, h
        self.yuv = to_yuv(np.ascontiguousarray(rgb))
        self.planes = tuple(np.ascontiguousarray(p) for p in planes(self.yuv))
        self._views: list[PanZoom] | None = None

    @property
    def _pz(self) -> list[PanZoom]:
        if self._views is None:  # the four shifted copies per plane, made when first needed
            self._views = [PanZoom(p) for p in self.planes]
        return self._views

    def view(self, x0: float, y0: float, step_x: float, step_y: float, out: tuple[np.ndarray, ...]) -> bool:
        """PanZoom.view on every plane: luma out[y, x] = luma[y0 + y * step_y, x0 + x * step_x], the chroma
        sampled where its pixels sit (see the top). False, leaving `out` alone, when the window leaves
        the picture."""
        y, u, v = self._pz
        cx0, cy0 = x0 / 2.0, y0 / 2.0  # output chroma j is luma 2 j: source luma x0 + 2 j sx = chroma x0 / 2 + j sx
        if u._axis(cx0, step_x, out[1].shape[1], u.width_px) is None or \
                u._axis(cy0, step_y, out[1].shape[0], u.height_px) is None:
            return False
        if not y.view(x0, y0, step_x, step_y, out[0]):
            return False
        return u.view(cx0, cy0, step_x, step_y, out[1]) and v.view(cx0, cy0, step_x, step_y, out[2])

    def crop_zoom(self, center: tuple[float, float], zoom: float, out: tuple[np.ndarray, ...]) -> None:
        """frames.crop_zoom of the picture into the output planes (the window kept inside the picture)."""
        from engines.video.frames import _zoom_window

        height, width = out[0].shape
        x0, y0, sx, sy = _zoom_window(self.width_px, self.height_px, width, height, center, zoom)
        if not self.view(x0, y0, sx, sy, out):  # pragma: no cover - the window is kept inside
            raise ValueError("the pan/zoom window left the picture")

    def copy_into(self, out: tuple[np.ndarray, ...]) -> None:
        for src, dst in zip(self.planes, out):
            dst[...] = src

    def view_affine(self, m: np.ndarray, out: tuple[np.ndarray, ...]) -> bool:
        """Each plane = cv2.warpAffine(plane, its matrix) for a zoom and shift `m` (luma pixels); False,
        leaving `out` alone, when `m` rotates or the view leaves the picture."""
        if abs(m[0, 1]) > 1e-9 or abs(m[1, 0]) > 1e-9 or m[0, 0] <= 0 or m[1, 1] <= 0:
            return False
        sx, sy = 1.0 / m[0, 0], 1.0 / m[1, 1]
        return self.view(-m[0, 2] * sx, -m[1, 2] * sy, sx, sy, out)

    def warp(self, m: np.ndarray, out: tuple[np.ndarray, ...]) -> None:
        """Each plane = cv2.warpAffine with `m` (luma) or its chroma matrix: any zoom, shift and tilt."""
        import cv2

        mc = chroma_matrix(m)
        for plane, dst, mat in zip(self.planes, out, (m, mc, mc)):
            cv2.warpAffine(plane, mat, (dst.shape[1], dst.shape[0]), dst=dst, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)


class Finish:
    """The last steps of a scene frame, on a band of an I420 frame, in place: soft light added (given as
    an RGB float32 (h, w, 3) buffer at a lower resolution), then the vignette (a uint8 multiplier, 255 =
    unchanged), a brightness gain and a lift of the blacks. Luma: the light's step scaled up to the band
    and added, then scaled about black (16). Chroma: the light's signed steps at chroma size, added and
    scaled about grey (128) in one float pass. As RGB's saturating arithmetic up to where a sum leaves
    the RGB gamut (there the player clips it)."""

    def __init__(self, light_hw: tuple[int, int] | None, band_hw: tuple[int, int], mask: np.ndarray | None) -> None:
        bh, bw = band_hw
        self.light_hw, self.band_hw, self.chroma_hw = light_hw, (bh, bw), (bh // 2, bw // 2)
        if light_hw is not None:
            self._clip = np.empty(light_hw + (3,), np.float32)
            self._yuv = np.empty(light_hw + (3,), np.float32)
            self._steps = [np.empty(light_hw, np.float32) for _ in range(3)]
            self._y8 = np.empty(light_hw, np.uint8)
            self._y_full = np.empty((bh, bw), np.uint8)
            self._light_c = [np.empty(self.chroma_hw, np.float32) for _ in range(2)]
        self.luma = self.chroma = None
        if mask is not None:
            self.luma = np.ascontiguousarray(mask[:, :, 0] if mask.ndim == 3 else mask)
            self.chroma = np.ascontiguousarray(self.luma[::2, ::2], np.float32) / 255.0  # chroma siting: see the top
        self._c = np.empty(self.chroma_hw, np.float32)

    def _add_light(self, light: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        """Adds the light's luma step to `y`; its two chroma steps at chroma size (float32)."""
        import cv2

        # Light past full scale is clipped per channel first, as a uint8 RGB overlay would be (the white-hot
        # core of a bright spark stays white instead of turning its colour's chroma past the gamut).
        cv2.threshold(light, 255.0, 255.0, cv2.THRESH_TRUNC, dst=self._clip)
        bh, bw = self.band_hw
        ch, cw = self.chroma_hw
        cv2.transform(self._clip, RGB_TO_YUV, dst=self._yuv)
        sy, su, sv = cv2.split(self._yuv, self._steps)  # into the buffers given: no new arrays
        cv2.convertScaleAbs(sy, dst=self._y8)  # the luma step of added light is >= 0
        if self.light_hw == self.band_hw:
            cv2.add(y, self._y8, dst=y)
        else:
            if (bh, bw) == (2 * self.light_hw[0], 2 * self.light_hw[1]):
                # Exactly twice the size: OpenCV's pyramid step (a 5-tap binomial interpolation, a quarter
                # cheaper than resize here; the light is soft, so the slightly smoother kernel is unseen).
                cv2.pyrUp(self._y8, dst=self._y_full)
            else:
                cv2.resize(self._y8, (bw, bh), dst=self._y_full, interpolation=cv2.INTER_LINEAR)
            cv2.add(y, self._y_full, dst=y)
        if self.light_hw == self.chroma_hw:
            return [su, sv]
        interp = cv2.INTER_AREA if self.light_hw[0] > ch else cv2.INTER_LINEAR
        return [cv2.resize(step, (cw, ch), dst=dst, interpolation=interp) for step, dst in zip((su, sv), self._light_c)]

    def apply(self, out: tuple[np.ndarray, ...], light: np.ndarray | None, gain: float, lift: int) -> None:
        import cv2

        y = out[0]
        steps = self._add_light(light, y) if light is not None else [None, None]
        scaled = self.luma is not None or abs(gain - 1.0) > 1e-3
        if scaled:
            cv2.subtract(y, BLACK_Y, dst=y)
            if self.luma is not None:
                cv2.multiply(y, self.luma, dst=y, scale=gain / 255.0)
            else:
                cv2.convertScaleAbs(y, dst=y, alpha=gain)
            # Back above black, plus the lift: an equal RGB step is 219/255 of it in luma.
            cv2.add(y, BLACK_Y + int(round(lift * 219.0 / 255.0)), dst=y)
        elif lift > 0:
            cv2.add(y, int(round(lift * 219.0 / 255.0)), dst=y)
        if not scaled and light is None:
            return
        for plane, step in zip(out[1:], steps):
            # (C + light - 128) * k + 128 in float (the steps are signed); the result is clipped to
            # 0..255 by the conversion (its absolute value of a non-negative number).
            cv2.subtract(plane, float(GREY_C), dst=self._c, dtype=cv2.CV_32F)
            if step is not None:
                cv2.add(self._c, step, dst=self._c)
            if self.chroma is not None:
                cv2.multiply(self._c, self.chroma, dst=self._c, scale=gain)
                cv2.convertScaleAbs(self._c, dst=plane, beta=GREY_C)
            else:
                cv2.convertScaleAbs(self._c, dst=plane, alpha=gain, beta=GREY_C)


def blend_patch(out: tuple[np.ndarray, ...], x: int, y: int, premult: tuple[np.ndarray, ...],
                clear: tuple[np.ndarray, ...]) -> None:
    """Draw a patch over the planes of an I420 frame at (x, y) (even), in place: plane = premult +
    plane * clear / 255 (the RGB blend of a premultiplied patch, in YUV). `premult` and `clear` are
    patch_yuv's planes."""
    import cv2

    if x % 2 or y % 2:
        raise ValueError(f"a patch on a 4:2:0 frame starts on even pixels, got ({x}, {y})")
    for k, (plane, p, c) in enumerate(zip(out, premult, clear)):
        s = 1 if k == 0 else 2
        ph, pw = p.shape
        roi = plane[y // s:y // s + ph, x // s:x // s + pw]
        cv2.multiply(roi, c, dst=roi, scale=1.0 / 255.0)
        cv2.add(roi, p, dst=roi)


def patch_yuv(rgb: np.ndarray, clear: np.ndarray) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """A premultiplied RGB patch (even sides) and its clear mask as premultiplied YUV planes and the
    planes' clear masks: blending P' = P * clear / 255 + premult in each plane is the RGB blend in YUV."""

    h, w = rgb.shape[:2]
    opacity = 1.0 - clear[:, :, 0].astype(np.float32) / 255.0
    yuv = to_yuv(np.ascontiguousarray(rgb))
    py, pu, pv = (p.astype(np.float32) for p in planes(yuv))
    oc = opacity[::2, ::2]  # where the chroma samples were taken (see the top)
    # cvtColor adds the full offsets to the premultiplied colour; opacity * offset belongs there.
    py -= BLACK_Y * (1.0 - opacity)
    pu -= GREY_C * (1.0 - oc)
    pv -= GREY_C * (1.0 - oc)

    def u8(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.clip(a + 0.5, 0, 255).astype(np.uint8))

    clear_y = np.ascontiguousarray(clear[:, :, 0])
    clear_c = u8(255.0 * (1.0 - oc))
    return (u8(py), u8(pu), u8(pv)), (clear_y, clear_c, clear_c)


def fade_black(yuv: np.ndarray, level: float) -> np.ndarray:
    """An I420 frame scaled toward black by `level` (1 = unchanged, 0 = black), in place: luma about 16,
    chroma about 128 (as scaling the RGB frame)."""
    import cv2

    level = min(max(float(level), 0.0), 1.0)
    if level >= 1.0:
        return yuv
    y, u, v = planes(yuv)
    cv2.convertScaleAbs(y, dst=y, alpha=level, beta=BLACK_Y * (1.0 - level))
    for c in (u, v):
        cv2.convertScaleAbs(c, dst=c, alpha=level, beta=GREY_C * (1.0 - level))
    return yuv


def transition(kind: str, a: np.ndarray, b: np.ndarray, progress: float) -> np.ndarray:
    """frames.transition on I420 frames: frame `progress` (0..1) of the way from `a` to `b`, drawn into
    `a` (returned; or `b` itself where the transition is over)."""
    import cv2

    p = min(max(float(progress), 0.0), 1.0)
    if kind == "crossfade":  # linear, offsets included: the whole array at once
        if p <= 0.0:
            return a
        if p >= 1.0:
            return b
        return cv2.addWeighted(a, 1.0 - p, b, p, 0.0, dst=a)
    if kind == "fade":
        return fade_black(a, 1.0 - 2.0 * p) if p < 0.5 else fade_black(b, 2.0 * p - 1.0)
    if kind == "slide":
        w = a.shape[1]
        shift = 2 * int(round(p * p * (3.0 - 2.0 * p) * w / 2.0))  # even: the chroma moves half as far
        if shift <= 0:
            return a
        if shift >= w:
            return b
        for pa, pb, s in zip(planes(a), planes(b), (shift, shift // 2, shift // 2)):
            pa[:, :pa.shape[1] - s] = pa[:, s:].copy()
            pa[:, pa.shape[1] - s:] = pb[:, :s]
        return a
    if kind == "wipe":
        soft_px = 24
        w = a.shape[1]
        edge = p * (w + soft_px) - soft_px / 2.0
        for pa, pb, step in zip(planes(a), planes(b), (1, 2, 2)):
            x = np.arange(pa.shape[1], dtype=np.float32) * step  # luma position of each sample
            mask = np.clip((edge - x) / soft_px + 0.5, 0.0, 1.0)[None, :]
            pa[...] = (pa * (1.0 - mask) + pb * mask + 0.5).astype(np.uint8)
        return a
    return a if p < 0.5 else b
