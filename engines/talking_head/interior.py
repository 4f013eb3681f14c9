"""The inside of an opening mouth, which a closed-mouth photo does not show: a dark cavity, the
edge of the upper teeth, and (when wide open) a hint of lower teeth and tongue.

Colours come from the photo itself (lip colour for the cavity and tongue, skin brightness for the
teeth), so a dim painting does not get bright white teeth. Painted with anti-aliased edges over the
warped lips, inside the opening the mouth rig computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.talking_head import landmarks as L
from engines.talking_head.warp import MouthState


@dataclass(frozen=True)
class Palette:
    cavity: np.ndarray  # RGB float32, the darkest part of the mouth
    teeth: np.ndarray  # RGB float32, lit front teeth
    tongue: np.ndarray  # RGB float32


def palette_from(rgb: np.ndarray, pts: np.ndarray) -> Palette:
    """Colours for the interior, sampled from the lips and the cheeks of the photo."""
    import cv2

    h, w = rgb.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    outer = np.concatenate([pts[list(L.OUTER_UPPER)], pts[list(L.OUTER_LOWER)][::-1]]).astype(np.int32)
    cv2.fillPoly(mask, [outer], 1)
    lips = rgb[mask > 0].astype(np.float32)
    lip = np.median(lips, axis=0) if len(lips) >= 8 else np.array([170.0, 95.0, 90.0], np.float32)
    # Cheek skin: small patches below each eye.
    patches = []
    for idx in (205, 425, 50, 280):
        x, y = pts[idx].astype(int)
        r = max(2, int(0.02 * max(h, w)))
        p = rgb[max(0, y - r):y + r, max(0, x - r):x + r].reshape(-1, 3)
        if len(p):
            patches.append(p)
    skin = np.median(np.concatenate(patches), axis=0).astype(np.float32) if patches else lip
    lum = float(skin @ np.array([0.299, 0.587, 0.114]))
    light = float(np.clip(lum / 165.0, 0.55, 1.1))
    cavity = np.clip(lip * np.array([0.22, 0.12, 0.13]) + 6.0, 0, 255).astype(np.float32)
    teeth = np.clip(np.array([214.0, 206.0, 190.0]) * light * 0.82 + 0.2 * skin, 0, 255).astype(np.float32)
    tongue = np.clip(lip * np.array([0.72, 0.45, 0.45]), 0, 255).astype(np.float32)
    return Palette(cavity, teeth, tongue)


def paint(roi: np.ndarray, state: MouthState, mouth_width: float, palette: Palette) -> None:
    """Paint the interior into `roi` (the mouth ROI of the current frame, RGB uint8) in place."""
    if state.window is None:
        return
    alpha = state.alpha
    rows = np.flatnonzero(alpha.max(axis=1) > 0.004)
    cols = np.flatnonzero(alpha.max(axis=0) > 0.004)
    if rows.size == 0 or cols.size == 0:
        return
    sub = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    below, gap, t, alpha = state.below_top[sub], state.gap[sub], state.t[sub], alpha[sub]
    width = max(float(mouth_width), 1.0)
    t2 = np.minimum(t * t, 1.0)
    # Cavity: darkest in the middle, a little lighter toward the lip edges and the corners.
    depth = np.clip(below / np.maximum(gap, 1e-3), 0.0, 1.0) - 0.5
    shade = 0.75 + 0.25 * t2 + 1.4 * depth * depth
    col = palette.cavity[None, None, :] * shade[:, :, None]
    from_bottom = gap - below
    widest = float(gap.max()) / width

    # Tongue: a soft mound at the bottom when the mouth is well open.
    if widest > 0.12:
        tongue_h = 0.35 * gap * np.clip((gap / width - 0.12) / 0.15, 0.0, 1.0)
        tongue = 1.0 - t * t * (1.0 / 0.36) - (from_bottom / np.maximum(tongue_h, 1e-3)) ** 2
        tongue = np.sqrt(np.clip(tongue, 0.0, 1.0)) * (tongue_h > 0.5)
        w = (0.85 * tongue)[:, :, None]
        col += (palette.tongue[None, None, :] * (1.0 - 0.4 * t2)[:, :, None] - col) * w

    # Upper teeth: a band under the upper lip following the dental arch, shadowed by the lip,
    # with faint gaps between the front teeth. Only the rows near the upper lip can hold them.
    arch = np.clip(1.0 - t * t * (1.0 / 0.5476), 0.0, 1.0)  # 0.74 ** 2
    teeth_h = np.minimum(0.09 * width, 0.42 * gap) * np.sqrt(arch)
    reach = float(teeth_h.max())
    near = np.flatnonzero(below.min(axis=1) < reach + 1.0)
    n = int(near[-1]) + 1 if near.size else 0
    if n and reach > 0.6:
        b, th, a_ = below[:n], teeth_h[:n], arch[:n]
        teeth = np.clip(th - b + 0.5, 0.0, 1.0) * (th > 0.6)
        lit = (0.45 + 0.55 * a_) * (0.6 + 0.4 * np.clip(b / np.maximum(0.45 * th, 1e-3), 0.0, 1.0))
        spacing = 0.115 * width
        u = t[:n] * (width / 2.0) + 0.5 * spacing
        seam = (u - spacing * np.floor(u / spacing) - 0.5 * spacing) * (1.0 / 0.7)
        lit *= 1.0 - 0.22 * np.exp(-seam * seam) * (np.abs(t[:n]) < 0.6)
        c = col[:n]
        c += (palette.teeth[None, None, :] * lit[:, :, None] - c) * teeth[:, :, None]

    # Lower teeth: a thin, dimmer band above the lower lip when wide open.
    if widest > 0.28:
        low_h = 0.05 * width * np.clip((gap / width - 0.28) / 0.12, 0.0, 1.0) \
            * np.sqrt(np.clip(1.0 - t * t * (1.0 / 0.36), 0.0, 1.0))
        low = (np.clip(low_h - from_bottom + 0.5, 0.0, 1.0) * (low_h > 0.6))[:, :, None]
        col += (palette.teeth[None, None, :] * (0.3 + 0.2 * arch)[:, :, None] - col) * low

    ys, xs = state.window
    dst = roi[ys.start + sub[0].start: ys.start + sub[0].stop, xs.start + sub[1].start: xs.start + sub[1].stop]
    a = alpha[:, :, None]
    out = dst.astype(np.float32)
    out += (col - out) * a
    np.clip(out, 0, 255, out=out)
    dst[...] = out.astype(np.uint8)
