"""A preview of what the engine will animate: the chosen face's box, lips and eyes drawn on the photo."""

from __future__ import annotations

import numpy as np

from core.errors import InputError
from core.image import load_image
from engines.talking_head import landmarks
from engines.talking_head.types import MIN_PORTRAIT_SIDE_PX

GOLD = (212, 175, 55)
RED = (230, 80, 80)


def preview(portrait, max_pixels: int = 50_000_000, max_side: int = 768) -> tuple[np.ndarray, list[str]]:
    """RGB image with the face box and lip/eye contours, and notes (several faces, small face)."""
    import cv2

    rgb = load_image(portrait, max_pixels, MIN_PORTRAIT_SIDE_PX)
    faces = landmarks.find_faces(rgb)
    if not faces:
        raise InputError("no face found in the portrait; use a photo where one face is clearly visible")
    faces = sorted(faces, key=lambda f: f.area, reverse=True)
    notes = []
    if len(faces) > 1:
        notes.append(f"{len(faces)} faces found: the largest (gold box) will be animated")
    scale = min(1.0, max_side / max(rgb.shape[:2]))
    img = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb.copy()
    for i, face in enumerate(faces):
        x, y, w, h = (np.array(face.box) * scale).astype(int)
        cv2.rectangle(img, (x, y), (x + w, y + h), GOLD if i == 0 else RED, 2)
    pts = faces[0].points * scale
    for contour in (landmarks.OUTER_UPPER, landmarks.OUTER_LOWER, landmarks.INNER_UPPER, landmarks.INNER_LOWER,
                    *(e["upper"] for e in landmarks.EYES), *(e["lower"] for e in landmarks.EYES)):
        cv2.polylines(img, [pts[list(contour)].astype(np.int32)], False, GOLD, 1, cv2.LINE_AA)
    return img, notes
