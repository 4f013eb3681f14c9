"""Measurements on rendered videos, independent of the engine's own code paths: ffmpeg decoding,
ffprobe, OpenCV's Haar cascade face detector, a separate MediaPipe FaceMesh instance for the
mouth opening, and scikit-image SSIM."""

from __future__ import annotations

import json
import subprocess
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).resolve().parents[2] / "data"  # tests/data: voices and portraits


def probe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                          "format=duration:stream=codec_type,codec_name,pix_fmt,width,height,duration,nb_frames",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def decode(path: Path) -> np.ndarray:
    """All frames as (n, height, width, 3) RGB uint8."""
    info = probe(path)
    v = next(s for s in info["streams"] if s["codec_type"] == "video")
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, int(v["height"]), int(v["width"]), 3)


@lru_cache(maxsize=1)
def _haar():
    import cv2

    return cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")


def haar_faces(rgb: np.ndarray) -> np.ndarray:
    """Haar-cascade face boxes (x, y, w, h) in `rgb`'s pixels; faces smaller than a fifth of the
    frame width are ignored. Frames wider than 320 px are searched at half size (4x faster)."""
    import cv2

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    scale = 2 if gray.shape[1] > 320 else 1
    if scale > 1:
        gray = cv2.resize(gray, (gray.shape[1] // scale, gray.shape[0] // scale), interpolation=cv2.INTER_AREA)
    side = max(24, gray.shape[1] // 5)
    found = _haar().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(side, side))
    return np.array(found).reshape(-1, 4) * scale


def iou(a, b) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


class MeshProbe:
    """Its own FaceMesh (static images, refined landmarks), apart from the engine's registry copy."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mediapipe as mp
        self.mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1)

    def points(self, rgb: np.ndarray) -> np.ndarray | None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # protobuf's GetPrototype deprecation, from inside mediapipe
            res = self.mesh.process(np.ascontiguousarray(rgb))
        if not res.multi_face_landmarks:
            return None
        h, w = rgb.shape[:2]
        return np.array([(p.x * w, p.y * h) for p in res.multi_face_landmarks[0].landmark], np.float32)

    def opening(self, rgb: np.ndarray) -> float:
        """Landmarks 13-14 distance over the eye-corner distance 33-263 (NaN when no face)."""
        p = self.points(rgb)
        if p is None:
            return float("nan")
        return float(np.linalg.norm(p[13] - p[14]) / np.linalg.norm(p[33] - p[263]))

    def close(self) -> None:
        self.mesh.close()


def loudness(samples: np.ndarray, rate: int, fps: int, n: int) -> np.ndarray:
    """RMS of the audio under each video frame (linear amplitude)."""
    out = np.zeros(n)
    for k in range(n):
        seg = samples[int(k * rate / fps):int((k + 1) * rate / fps)]
        out[k] = float(np.sqrt(np.mean(seg.astype(np.float64) ** 2))) if seg.size else 0.0
    return out


def region_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """True where the face is expected to stay still: everything except the mouth and jaw region
    (subnasale to below the chin, mouth width plus 60% each side) and the two eyes with their lids
    (eye box grown 60% sideways and 120% up and down)."""
    h, w = shape
    keep = np.ones((h, w), bool)
    mw = np.linalg.norm(points[291] - points[61])
    x0, x1 = min(points[61][0], points[291][0]) - 0.6 * mw, max(points[61][0], points[291][0]) + 0.6 * mw
    y0 = points[2][1]
    y1 = points[152][1] + 0.5 * mw
    keep[max(0, int(y0)):min(h, int(y1) + 1), max(0, int(x0)):min(w, int(x1) + 1)] = False
    for eye in ((33, 133, 159, 145), (362, 263, 386, 374)):
        e = points[list(eye)]
        ex0, ex1 = e[:, 0].min(), e[:, 0].max()
        ey0, ey1 = e[:, 1].min(), e[:, 1].max()
        gw, gh = 0.6 * (ex1 - ex0), 1.2 * max(ey1 - ey0, 0.25 * (ex1 - ex0))
        keep[max(0, int(ey0 - gh)):min(h, int(ey1 + gh) + 1), max(0, int(ex0 - gw)):min(w, int(ex1 + gw) + 1)] = False
    return keep


def masked_ssim(a: np.ndarray, b: np.ndarray, keep: np.ndarray) -> tuple[float, float]:
    """Colour SSIM (skimage, 7x7 windows, averaged over channels) of b against a: the mean over
    the `keep` mask, and over the whole frame."""
    from skimage.metrics import structural_similarity

    whole, full = structural_similarity(a, b, channel_axis=2, full=True, data_range=255)
    return float(full.mean(axis=2)[keep].mean()), float(whole)
