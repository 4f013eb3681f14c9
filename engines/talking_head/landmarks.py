"""Faces and their 478 landmarks, found offline with MediaPipe 0.10.14 FaceMesh (refine_landmarks=True).

The FaceMesh graph ships inside the mediapipe wheel; it is loaded once through the model registry.
Small faces that FaceMesh's short-range detector misses are looked for again with MediaPipe's
full-range face detector, and FaceMesh is run on a crop around each face found.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from dataclasses import dataclass

import numpy as np

from core.errors import BackendUnavailable
from engines.registry import MODELS

log = logging.getLogger(__name__)

FACEMESH_KEY = "talking_head:facemesh"
DETECTOR_KEY = "talking_head:face_detection"
# Faces are searched on a copy of the photo at most this many pixels on its longer side.
DETECT_SIDE = 1280
# At most this many faces are reported (the largest is animated).
MAX_FACES = 6

# ---- MediaPipe FaceMesh landmark indices used by the rig and the tests.
MOUTH_CORNERS = (61, 291)
UPPER_LIP_TOP, LOWER_LIP_BOTTOM = 0, 17
INNER_UPPER_CENTER, INNER_LOWER_CENTER = 13, 14
# Inner lip contours from the left corner (78) to the right corner (308).
INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
SUBNASALE, NOSE_TIP, CHIN = 2, 1, 152
# Eyes in image order (the subject's right eye is on the image's left). Lids run corner to corner.
EYES = (
    {"corners": (33, 133),
     "upper": (33, 246, 161, 160, 159, 158, 157, 173, 133),
     "lower": (33, 7, 163, 144, 145, 153, 154, 155, 133)},
    {"corners": (362, 263),
     "upper": (362, 398, 384, 385, 386, 387, 388, 466, 263),
     "lower": (362, 382, 381, 380, 374, 373, 390, 249, 263)},
)
EYE_OUTER_CORNERS = (33, 263)
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)


@dataclass(frozen=True)
class Face:
    # (478, 2) float32 landmark positions in pixels of the image they were found in.
    points: np.ndarray
    # Bounding box of the face oval: left, top, width, height in pixels.
    box: tuple[float, float, float, float]

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]


class _Model:
    """A MediaPipe solution object with the lock that serialises calls on it (it is not thread-safe)."""

    def __init__(self, solution) -> None:
        self.solution = solution
        self.lock = threading.Lock()

    def close(self) -> None:
        self.solution.close()


def _import_mediapipe():
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ start-up chatter
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mediapipe as mp
    except ImportError as e:
        raise BackendUnavailable(f"mediapipe is not installed ({e}); "
                                 "pip install -r requirements-talking-head.txt") from None
    return mp


def _facemesh() -> _Model:
    def load() -> _Model:
        mp = _import_mediapipe()
        return _Model(mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=MAX_FACES, refine_landmarks=True, min_detection_confidence=0.5))

    return MODELS.get(FACEMESH_KEY, load)


def _detector() -> _Model:
    def load() -> _Model:
        mp = _import_mediapipe()
        # model_selection=1: the full-range model, for faces that are small in the frame.
        return _Model(mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5))

    return MODELS.get(DETECTOR_KEY, load)


def _mesh(rgb: np.ndarray) -> list[np.ndarray]:
    model = _facemesh()
    h, w = rgb.shape[:2]
    with model.lock, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.solution.process(np.ascontiguousarray(rgb))
    out = []
    for face in res.multi_face_landmarks or []:
        pts = np.array([(p.x * w, p.y * h) for p in face.landmark], np.float32)
        out.append(pts)
    return out


def _face(points: np.ndarray) -> Face:
    oval = points[list(FACE_OVAL)]
    x0, y0 = oval.min(axis=0)
    x1, y1 = oval.max(axis=0)
    return Face(points, (float(x0), float(y0), float(x1 - x0), float(y1 - y0)))


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def find_faces(rgb: np.ndarray) -> list[Face]:
    """Every face found in `rgb` (RGB uint8), largest first, with landmarks in `rgb`'s pixels."""
    h, w = rgb.shape[:2]
    scale = min(1.0, DETECT_SIDE / max(h, w))
    small = _resize(rgb, scale) if scale < 1.0 else rgb
    faces = [_face(p / scale) for p in _mesh(small)]
    if not faces:
        faces = _faces_by_detector(rgb, small, scale)
    faces = _dedupe(faces)
    faces.sort(key=lambda f: f.area, reverse=True)
    return faces


def _faces_by_detector(rgb: np.ndarray, small: np.ndarray, scale: float) -> list[Face]:
    """Second chance for small faces: full-range detection, then FaceMesh on a crop around each."""
    model = _detector()
    sh, sw = small.shape[:2]
    with model.lock, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.solution.process(np.ascontiguousarray(small))
    faces = []
    for det in (res.detections or [])[:MAX_FACES]:
        bb = det.location_data.relative_bounding_box
        # The box in full-resolution pixels, grown to include the whole head.
        cx = (bb.xmin + bb.width / 2) * sw / scale
        cy = (bb.ymin + bb.height / 2) * sh / scale
        side = 2.2 * max(bb.width * sw, bb.height * sh) / scale
        x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        x1, y1 = int(min(rgb.shape[1], cx + side / 2)), int(min(rgb.shape[0], cy + side / 2))
        if x1 - x0 < 8 or y1 - y0 < 8:
            continue
        crop = rgb[y0:y1, x0:x1]
        up = 384.0 / max(crop.shape[:2])
        found = _mesh(_resize(crop, up))
        if found:
            pts = found[0] / up + np.array([x0, y0], np.float32)
            faces.append(_face(pts))
    return faces


def _dedupe(faces: list[Face]) -> list[Face]:
    kept: list[Face] = []
    for f in sorted(faces, key=lambda f: f.area, reverse=True):
        if all(_iou(f.box, k.box) < 0.3 for k in kept):
            kept.append(f)
    return kept


def _iou(a: tuple, b: tuple) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def mouth_opening(points: np.ndarray) -> float:
    """Inner-lip gap (landmarks 13-14) over the eye-corner distance (33-263): 0 = closed."""
    gap = float(np.linalg.norm(points[INNER_LOWER_CENTER] - points[INNER_UPPER_CENTER]))
    eyes = float(np.linalg.norm(points[EYE_OUTER_CORNERS[1]] - points[EYE_OUTER_CORNERS[0]]))
    return gap / eyes if eyes > 0 else 0.0
