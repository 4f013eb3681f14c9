"""Preview thumbnails of the scene templates, for the template gallery (rendered once per process)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# Thumbnail size in pixels (16:9) and the moment of the scene it shows, in seconds.
PREVIEW_W_PX, PREVIEW_H_PX = 320, 180
PREVIEW_AT_S = 2.0


@lru_cache(maxsize=16)
def _preview(name: str, width_px: int, height_px: int) -> bytes:
    from engines.video.scenes import SceneRenderer

    fps = 24
    frame = SceneRenderer(name, (width_px, height_px), fps, None).frame(int(PREVIEW_AT_S * fps))
    return np.ascontiguousarray(frame).tobytes()


def template_preview(name: str, width_px: int = PREVIEW_W_PX, height_px: int = PREVIEW_H_PX) -> np.ndarray:
    """One frame of the template's own procedural scene (no photo, no audio), RGB uint8 (H, W, 3)."""
    data = _preview(name, int(width_px), int(height_px))
    return np.frombuffer(data, np.uint8).reshape(int(height_px), int(width_px), 3).copy()
