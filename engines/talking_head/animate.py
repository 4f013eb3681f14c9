"""One frame at a time: mouth, eyelids and head rigs applied to the framed portrait.

The mouth and eye rigs remap their small regions of the untouched portrait into a working frame;
the head rig then remaps the head region of that working frame. Regions that did not move are
restored from the portrait, so frames in silence are the photo itself (no drift, no quiver).
"""

from __future__ import annotations

import numpy as np

from engines.talking_head import landmarks as L
from engines.talking_head.interior import paint, palette_from
from engines.talking_head.warp import EyeRig, HeadRig, MouthRig

# Below these, a rig is left out of the frame (the photo's pixels are shown as they are).
MIN_OPENING = 1e-3
MIN_SHAPE = 1e-3
MIN_CLOSURE = 0.02
MIN_POSE = 1e-3


class FaceAnimator:
    def __init__(self, portrait: np.ndarray, points: np.ndarray, expression: float = 1.0,
                 head_motion: bool = True) -> None:
        """`portrait`: the framed RGB uint8 image; `points`: its (478, 2) landmarks in pixels."""
        import cv2

        self._cv2 = cv2
        self.base = np.ascontiguousarray(portrait)
        shape = self.base.shape[:2]
        self.expression = float(expression)
        self.mouth = MouthRig(shape, points)
        self.palette = palette_from(self.base, points)
        self.eyes = [rig for rig in (EyeRig(shape, points, e) for e in L.EYES) if rig.roi is not None]
        self.head = HeadRig(shape, points) if head_motion else None
        self.work = self.base.copy()
        self.out = self.base.copy()
        # Whether the head's region is the whole frame (a face-framed portrait): the head remap then
        # writes every pixel of `out` and nothing needs copying into it first.
        self._head_covers = self.head is not None and all(
            sl.start == 0 and sl.stop == n for sl, n in zip(self.head.roi, shape))
        self._dirty: set[int] = set()  # ids of rigs whose ROI in `work` differs from the portrait

    def _restore(self, key: int, roi: tuple[slice, slice]) -> None:
        if key in self._dirty:
            self.work[roi] = self.base[roi]
            self._dirty.discard(key)

    def _remap(self, src: np.ndarray, mx: np.ndarray, my: np.ndarray, dst: np.ndarray) -> None:
        """Warp `src` by the backward map into `dst` (a view of a frame buffer, written in place)."""
        cv2 = self._cv2
        out = cv2.remap(src, mx, my, cv2.INTER_LINEAR, dst=dst, borderMode=cv2.BORDER_REPLICATE)
        if out is not dst:  # OpenCV allocated instead of writing into the view
            dst[...] = out

    def frame(self, opening: float, shape: float, closure: float,
              pose: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)) -> np.ndarray:
        """The animated frame (RGB uint8, owned by the animator: copy it to keep it).

        opening 0..1, shape -1 (rounded) .. 1 (spread), closure 0 (eyes open) .. 1 (closed),
        pose = (roll degrees, shift x px, shift y px, scale)."""
        m = self.mouth
        if m.roi is not None:
            if opening > MIN_OPENING or abs(shape) > MIN_SHAPE:
                mx, my, state = m.map(opening, shape, self.expression)
                roi = self.work[m.roi]
                self._remap(self.base, mx, my, roi)
                paint(roi, state, 2.0 * m.a, self.palette)
                self._dirty.add(id(m))
            else:
                self._restore(id(m), m.roi)
        for eye in self.eyes:
            if closure > MIN_CLOSURE:
                mx, my = eye.map(closure)
                self._remap(self.base, mx, my, self.work[eye.roi])
                self._dirty.add(id(eye))
            else:
                self._restore(id(eye), eye.roi)

        roll, tx, ty, scale = pose
        if self.head is None or max(abs(roll), abs(tx), abs(ty), abs(scale - 1.0) * 100) < MIN_POSE:
            return self.work
        mx, my = self.head.map(roll, tx, ty, scale)
        if not self._head_covers:
            np.copyto(self.out, self.work)
        self._remap(self.work, mx, my, self.out[self.head.roi])
        return self.out
