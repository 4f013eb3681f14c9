"""Warping the photo: jaw and lips, eyelids, and the head, as backward maps for cv2.remap.

Every rig is built once per render from the landmarks and keeps its region of interest (ROI) and
the per-pixel arrays that do not change between frames; a frame then costs a few vectorised
operations on the ROI and one remap. All the motion is a warp of the photo's own pixels (identity
is kept); only the mouth interior, which the closed-mouth photo does not show, is painted
(engines.talking_head.interior).

Coordinates: the mouth and each eye have their own frame, u along the corner-to-corner axis and
v perpendicular to it pointing down (toward the chin), in pixels, origin between the corners.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.talking_head import landmarks as L


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) * (1.0 / (e1 - e0)), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class Frame2D:
    """An oriented frame: origin and unit axes u (corner to corner) and v (perpendicular, downward)."""

    origin: np.ndarray
    eu: np.ndarray
    ev: np.ndarray

    @classmethod
    def from_corners(cls, left: np.ndarray, right: np.ndarray) -> Frame2D:
        d = (right - left).astype(np.float64)
        eu = d / max(np.linalg.norm(d), 1e-6)
        ev = np.array([-eu[1], eu[0]])
        return cls(((left + right) / 2.0).astype(np.float64), eu, ev)

    def to_uv(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = np.asarray(pts, np.float64) - self.origin
        return d @ self.eu, d @ self.ev

    def roi(self, u0: float, u1: float, v0: float, v1: float, shape: tuple[int, int]) -> tuple[slice, slice] | None:
        """Axis-aligned image box (rows, cols) covering the uv rectangle, clipped to the image."""
        cu = np.array([u0, u1, u1, u0])
        cv = np.array([v0, v0, v1, v1])
        xy = self.origin + cu[:, None] * self.eu + cv[:, None] * self.ev
        x0, y0 = np.floor(xy.min(axis=0)).astype(int)
        x1, y1 = np.ceil(xy.max(axis=0)).astype(int) + 1
        h, w = shape
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        return slice(y0, y1), slice(x0, x1)

    def grid(self, roi: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
        """u, v of every pixel of the ROI, float32."""
        ys = np.arange(roi[0].start, roi[0].stop, dtype=np.float64) - self.origin[1]
        xs = np.arange(roi[1].start, roi[1].stop, dtype=np.float64) - self.origin[0]
        X, Y = np.meshgrid(xs, ys)
        U = X * self.eu[0] + Y * self.eu[1]
        V = X * self.ev[0] + Y * self.ev[1]
        return U.astype(np.float32), V.astype(np.float32)

    def to_xy(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ox, oy = self.origin
        x = (ox + u * self.eu[0] + v * self.ev[0]).astype(np.float32, copy=False)
        y = (oy + u * self.eu[1] + v * self.ev[1]).astype(np.float32, copy=False)
        return x, y


def _curve(frame: Frame2D, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u, v = frame.to_uv(pts)
    order = np.argsort(u)
    return u[order], v[order]


# ----------------------------------------------------------------------------- mouth and jaw


@dataclass
class MouthState:
    """What one frame's mouth warp left for the interior painter, in ROI pixels."""

    # Window of the ROI holding the opening (rows, cols), or None when the mouth is closed.
    window: tuple[slice, slice] | None
    # Over the window: distance of each pixel below the upper lip edge, and the gap height, in px.
    below_top: np.ndarray | None = None
    gap: np.ndarray | None = None
    # Over the window: position across the opening, -1 (left corner) .. 1 (right corner).
    t: np.ndarray | None = None
    # Over the window: pixel coverage of the opening (anti-aliased), 0..1.
    alpha: np.ndarray | None = None


class MouthRig:
    """Jaw drop, lip parting, rounding and spreading as one backward map over the lower face.

    The map is smooth away from the lip line, so it is evaluated on a half-resolution grid and
    its displacement upsampled; the opening's outline, which must stay crisp, is computed at full
    resolution over the small window the painter needs."""

    # Lip gap at full opening, as a fraction of mouth width (times the expression strength).
    MAX_OPEN = 0.34
    # Shares of the opening taken by the upper lip (up), the lower lip (down) and the chin (down).
    UPPER, LOWER, CHIN = 0.25, 0.75, 0.62
    # The opening ends this far in from the lip corners (fraction of the half-width).
    END = 0.95

    def __init__(self, shape: tuple[int, int], pts: np.ndarray) -> None:
        self.frame = f = Frame2D.from_corners(pts[L.MOUTH_CORNERS[0]], pts[L.MOUTH_CORNERS[1]])
        self.a = a = float(np.linalg.norm(pts[L.MOUTH_CORNERS[1]] - pts[L.MOUTH_CORNERS[0]]) / 2.0)
        self.top_u, self.top_v = _curve(f, pts[list(L.INNER_UPPER)])
        self.bot_u, self.bot_v = _curve(f, pts[list(L.INNER_LOWER)])
        top0 = float(np.interp(0.0, self.top_u, self.top_v))
        bot0 = float(np.interp(0.0, self.bot_u, self.bot_v))
        self.rest_gap = max(bot0 - top0, 0.0)
        _, v_lip_low = f.to_uv(pts[[L.LOWER_LIP_BOTTOM]])
        _, v_chin = f.to_uv(pts[[L.CHIN]])
        _, v_nose = f.to_uv(pts[[L.SUBNASALE]])
        self.lower_lip = max(float(v_lip_low[0]) - bot0, 0.15 * a)
        self.nose_gap = max(top0 - float(v_nose[0]), 0.3 * a)
        self.chin = max(float(v_chin[0]) - bot0, self.lower_lip + 0.2 * a)
        # Below the chin the jaw's drop fades out over this distance (long enough to stay a fold-free warp).
        self.neck = max(1.1 * a, 1.6 * self.CHIN * self.MAX_OPEN * 2 * a * 2.0)
        roi = f.roi(-2.45 * a, 2.45 * a, top0 - self.nose_gap - 0.15 * a, bot0 + self.chin + self.neck + 0.2 * a, shape)
        self.roi = _even_roi(roi, shape) if roi is not None else None
        if self.roi is None:
            return
        ys, xs = self.roi
        # Full resolution: pixel positions (for the final map) and the fields the painter reads.
        self.X, self.Y = np.meshgrid(np.arange(xs.start, xs.stop, dtype=np.float32),
                                     np.arange(ys.start, ys.stop, dtype=np.float32))
        self.full = self._fields(f.grid(self.roi))
        # Half resolution: sample (j, i) stands for full-resolution position (2j + 0.5, 2i + 0.5),
        # which is where cv2.resize's 2x linear upscale puts it.
        h2, w2 = (ys.stop - ys.start) // 2, (xs.stop - xs.start) // 2
        xh = xs.start + 0.5 + 2.0 * np.arange(w2)
        yh = ys.start + 0.5 + 2.0 * np.arange(h2)
        XH, YH = np.meshgrid(xh, yh)
        dx, dy = XH - f.origin[0], YH - f.origin[1]
        UH = (dx * f.eu[0] + dy * f.eu[1]).astype(np.float32)
        VH = (dx * f.ev[0] + dy * f.ev[1]).astype(np.float32)
        self.half = self._fields((UH, VH))
        self.XH, self.YH = XH.astype(np.float32), YH.astype(np.float32)
        self.size = (xs.stop - xs.start, ys.stop - ys.start)

    def _fields(self, uv: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
        """The per-pixel arrays that stay fixed for the whole render."""
        U, V = uv
        a = self.a
        TOP = np.interp(U, self.top_u, self.top_v).astype(np.float32)
        BOT = np.interp(U, self.bot_u, self.bot_v).astype(np.float32)
        t = U / a
        at = np.abs(t)
        phi = np.where(at <= 1.0, t, np.sign(t) * (1.0 - smoothstep(1.0, 2.2, at)))
        # Vertical reach of the lip-corner motion: whole at the lips, gone by the nose and the chin
        # (so it is zero on the ROI's border).
        dv = V - 0.5 * (TOP + BOT)
        psi = np.where(dv < 0, 1.0 - smoothstep(0.25 * self.nose_gap, 0.9 * self.nose_gap, -dv),
                       1.0 - smoothstep(self.lower_lip, self.chin, dv))
        return {
            "U": U, "V": V, "TOP": TOP, "BOT": BOT,
            "PHIPSI": (phi * psi).astype(np.float32),  # lip-corner motion in and out
            "CORNER": (phi * phi * psi).astype(np.float32),  # corner raise (spread lips)
            "JLAT": (1.0 - smoothstep(1.1 * a, 2.4 * a, np.abs(U))).astype(np.float32),  # jaw's width
        }

    def _motion(self, opening: float, shape: float,
                expression: float) -> tuple[float, float, float, float, float, float]:
        a = self.a
        rnd, spr = max(-shape, 0.0), max(shape, 0.0)
        D = opening * self.MAX_OPEN * 2 * a * expression * (1.0 - 0.3 * spr + 0.05 * rnd)
        dW = a * expression * (0.10 * spr - 0.16 * rnd - 0.05 * opening)
        return D, self.UPPER * D, self.LOWER * D, self.CHIN * D, dW, spr

    def _profile(self, us: np.ndarray, spr: float) -> np.ndarray:
        """Opening height profile across the mouth, 1 in the middle, 0 at and beyond the corners."""
        ts = us * (1.0 / (self.a * self.END))
        t2 = ts * ts
        # Spread lips: a flatter, more rectangular opening (toward 1 - t^4).
        core = 1.0 - t2 if spr <= 0 else 1.0 - t2 * ((1.0 - spr) + spr * t2)
        return np.sqrt(np.maximum(core, 0.0))

    def map(self, opening: float, shape: float, expression: float) -> tuple[np.ndarray, np.ndarray, MouthState]:
        """Backward map (absolute source x, y for every ROI pixel) and the opening for the painter.

        opening: 0..1; shape: -1 rounded .. +1 spread; expression: motion strength (1 = natural)."""
        import cv2

        D, Du, Dl, Dj, dW, spr = self._motion(opening, shape, expression)
        F = self.half
        U, V, TOP, BOT = F["U"], F["V"], F["TOP"], F["BOT"]
        us = U - dW * F["PHIPSI"] if dW else U
        if D > 0:
            p = self._profile(us, spr)
            up_edge = TOP - Du * p
            lo_edge = BOT + Dl * p
            # Upper lip: lifted at the seam, the lift fading out toward the nose.
            q = smoothstep(-0.85 * self.nose_gap, 0.0, V - up_edge)
            v_up = V + Du * p * q
            # Lower lip, chin and jaw: the lip follows the opening profile, the chin the whole jaw,
            # fading out along the jaw line and into the neck. Under the lips the full drop is reached
            # within the lower lip; under and beside the corners the skin stretches gradually down to
            # the chin, so the dark corner crease is not smeared into a streak.
            x = V - lo_edge
            ramp = 1.2 * self.lower_lip + (self.chin - 1.2 * self.lower_lip) * (1.0 - p)
            r = np.clip(x / ramp, 0.0, 1.0)
            r = r * r * (3.0 - 2.0 * r)
            fall = 1.0 - smoothstep(self.chin, self.chin + self.neck, V - BOT)
            d_low = (Dl * p + (Dj * F["JLAT"] - Dl * p) * r) * fall
            v_lo = V - d_low
            # In the opening itself the lip edges are sampled (the painter covers them).
            v_gap = np.where(0.5 * (up_edge + lo_edge) > V, TOP - 0.5, BOT + 0.5)
            vs = np.where(up_edge >= V, v_up, np.where(lo_edge <= V, v_lo, v_gap))
        else:
            vs = V.copy()
        if spr > 0:
            vs += (0.05 * self.a * expression * spr) * F["CORNER"]
        sx, sy = self.frame.to_xy(us, vs)
        w, h = self.size
        mx = cv2.resize(sx - self.XH, (w, h), interpolation=cv2.INTER_LINEAR)
        my = cv2.resize(sy - self.YH, (w, h), interpolation=cv2.INTER_LINEAR)
        mx += self.X
        my += self.Y
        state = self._state(D, Du, Dl, dW, spr) if D > 0 else MouthState(None)
        return mx, my, state

    def _state(self, D: float, Du: float, Dl: float, dW: float, spr: float) -> MouthState:
        """The opening at full resolution, over the window that holds it."""
        a = self.a
        lens = self.frame.roi(-1.25 * a, 1.25 * a, float(np.min(self.top_v)) - Du - 2.0,
                              float(np.max(self.bot_v)) + Dl + 2.0, (1 << 30, 1 << 30))
        ys, xs = self.roi
        if lens is None:
            return MouthState(None)
        r0, r1 = max(lens[0].start - ys.start, 0), min(lens[0].stop - ys.start, ys.stop - ys.start)
        c0, c1 = max(lens[1].start - xs.start, 0), min(lens[1].stop - xs.start, xs.stop - xs.start)
        if r1 - r0 < 1 or c1 - c0 < 1:
            return MouthState(None)
        win = (slice(r0, r1), slice(c0, c1))
        F = self.full
        U, V = F["U"][win], F["V"][win]
        us = U - dW * F["PHIPSI"][win] if dW else U
        p = self._profile(us, spr)
        up_edge = F["TOP"][win] - Du * p
        gap = np.maximum(F["BOT"][win] + Dl * p - up_edge, 0.0)
        below = V - up_edge
        alpha = np.clip(below + 0.5, 0.0, 1.0) * np.clip(gap - below + 0.5, 0.0, 1.0)
        alpha *= np.clip(gap * 1.5, 0.0, 1.0)  # a hair-thin gap is only a shadow
        return MouthState(win, below, gap, us / a, alpha)


def _even_roi(roi: tuple[slice, slice], shape: tuple[int, int]) -> tuple[slice, slice] | None:
    """Make both sides of the ROI even (for the exact 2x upscale of half-resolution maps)."""
    out = []
    for sl, limit in zip(roi, shape):
        a, b = sl.start, sl.stop
        if (b - a) % 2:
            if b < limit:
                b += 1
            elif a > 0:
                a -= 1
            else:
                b -= 1
        if b - a < 4:
            return None
        out.append(slice(a, b))
    return out[0], out[1]


# ----------------------------------------------------------------------------- eyelids


class EyeRig:
    """Blinks: the upper lid slides down over the eye (its skin stretched), the lower lid rises a little."""

    def __init__(self, shape: tuple[int, int], pts: np.ndarray, eye: dict) -> None:
        c0, c1 = eye["corners"]
        self.frame = f = Frame2D.from_corners(pts[c0], pts[c1])
        self.top_u, self.top_v = _curve(f, pts[list(eye["upper"])])
        self.bot_u, self.bot_v = _curve(f, pts[list(eye["lower"])])
        ae = float(np.linalg.norm(pts[c1] - pts[c0]) / 2.0)
        height = float(np.max(np.interp(np.linspace(-ae, ae, 21), self.bot_u, self.bot_v)
                              - np.interp(np.linspace(-ae, ae, 21), self.top_u, self.top_v)))
        self.height = max(height, 1.0)
        self.K_up = 1.7 * self.height  # lid skin above the lid edge that is stretched down
        self.K_low = 0.9 * self.height
        top_min = float(np.min(self.top_v))
        bot_max = float(np.max(self.bot_v))
        self.roi = f.roi(-1.15 * ae, 1.15 * ae, top_min - self.K_up - 2, bot_max + self.K_low + 2, shape)
        if self.roi is None:
            return
        U, V = f.grid(self.roi)
        self.V = V
        self.U = U
        self.TOP = np.interp(U, self.top_u, self.top_v).astype(np.float32)
        self.BOT = np.interp(U, self.bot_u, self.bot_v).astype(np.float32)
        self.H = np.maximum(self.BOT - self.TOP, 0.0)

    def map(self, closure: float) -> tuple[np.ndarray, np.ndarray]:
        V, TOP, BOT, H = self.V, self.TOP, self.BOT, self.H
        c = float(np.clip(closure, 0.0, 1.0))
        down = 0.85 * c * H
        up = 0.15 * c * H
        edge = TOP + down
        low_edge = BOT - up
        base_top = TOP - self.K_up
        v_a = base_top + (V - base_top) * (self.K_up / (self.K_up + down))
        base_low = BOT + self.K_low
        v_c = base_low - (base_low - V) * (self.K_low / (self.K_low + up))
        vs = np.where((base_top <= V) & (edge >= V), v_a,
                      np.where((low_edge <= V) & (base_low >= V), v_c, V))
        return self.frame.to_xy(self.U, vs)


# ----------------------------------------------------------------------------- head


class HeadRig:
    """Small head motion (roll, shift, scale about the neck) under a soft head mask, so the
    background and shoulders stay put and only the band around the head stretches slightly."""

    def __init__(self, shape: tuple[int, int], pts: np.ndarray) -> None:
        oval = pts[list(L.FACE_OVAL)]
        x0, y0 = oval.min(axis=0)
        x1, y1 = oval.max(axis=0)
        w, h = float(x1 - x0), float(y1 - y0)
        self.face_width = w
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0 - 0.08 * h
        rx, ry = 0.78 * w, 0.75 * h
        outer = 1.5  # the mask fades from the head ellipse to this many radii
        H, W = shape
        xa, xb = int(max(0, np.floor(cx - outer * rx))), int(min(W, np.ceil(cx + outer * rx)))
        ya, yb = int(max(0, np.floor(cy - outer * ry))), int(min(H, np.ceil(cy + outer * ry)))
        self.roi = (slice(ya, yb), slice(xa, xb))
        X, Y = np.meshgrid(np.arange(xa, xb, dtype=np.float32), np.arange(ya, yb, dtype=np.float32))
        d = np.sqrt(((X - cx) / rx) ** 2 + ((Y - cy) / ry) ** 2)
        wgt = (1.0 - smoothstep(1.0, outer, d)).astype(np.float32)
        self.pivot = (float(cx), float(y1 + 0.2 * h))
        self.X, self.Y = X, Y
        self.W = wgt
        self.WX = (wgt * (X - self.pivot[0])).astype(np.float32)
        self.WY = (wgt * (Y - self.pivot[1])).astype(np.float32)
        self._mx = np.empty_like(X)
        self._my = np.empty_like(X)

    def map(self, roll_deg: float, tx: float, ty: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """Backward map for a head rolled by `roll_deg`, moved by (tx, ty) px and scaled by `scale`."""
        import cv2

        th = np.deg2rad(roll_deg)
        c, s = np.cos(-th) / scale, np.sin(-th) / scale
        a00, a01, a10, a11 = c - 1.0, -s, s, c - 1.0
        b0 = -(c * tx - s * ty)
        b1 = -(s * tx + c * ty)
        mx, my = self._mx, self._my
        cv2.scaleAdd(self.WX, a00, self.X, mx)
        cv2.scaleAdd(self.WY, a01, mx, mx)
        cv2.scaleAdd(self.W, b0, mx, mx)
        cv2.scaleAdd(self.WX, a10, self.Y, my)
        cv2.scaleAdd(self.WY, a11, my, my)
        cv2.scaleAdd(self.W, b1, my, my)
        return mx, my
