"""What crosses the talking-head engine's boundary: one request in, one result out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.audio import Audio

# Output sizes the engine accepts: the longer side of the frame in pixels (the square side for a
# face crop), or "original" for the portrait's own size (capped at MAX_OUTPUT_SIDE).
SIZES = (256, 512, "original")
FPS_CHOICES = (25, 30)
# "original" never produces frames larger than this on their longer side (H.264 players and memory).
MAX_OUTPUT_SIDE = 1920
# Expression strength and head-motion amount accept this range (1.0 = the natural default).
AMOUNT_RANGE = (0.0, 2.0)
# Longest accepted speech, in seconds.
MAX_AUDIO_SECONDS = 600.0
# Smallest portrait side worth animating, in pixels.
MIN_PORTRAIT_SIDE_PX = 64

Size = int | str


@dataclass(frozen=True)
class TalkingHeadRequest:
    # The photo: a file path (PNG/JPEG/WebP...) or an RGB uint8 array of shape (height, width, 3).
    portrait: str | Path | np.ndarray
    # The speech that drives the mouth; the video is exactly as long as this audio.
    audio: Audio
    # What is said, when known (reserved for phoneme timings; the embedded engine reads the audio).
    text: str = ""
    # Longer output side in pixels: 256, 512 or "original" (the photo's own size, capped at 1920).
    size: Size = 512
    # Frames per second: 25 or 30.
    fps: int = 25
    # Strength of mouth and jaw motion, 0 (none) .. 2 (exaggerated); 1 is natural.
    expression: float = 1.0
    # Amount of head motion and breathing, 0 (none) .. 2; 1 is natural. Ignored when still=True.
    head_motion: float = 1.0
    # Still mode: no head motion or breathing; only mouth, jaw and eye blinks move.
    still: bool = False
    # True: a square crop around the face; False: the whole photo.
    crop: bool = False
    # Natural eye blinks (on by default).
    blinks: bool = True
    # Seed for blink times and head motion, so a render can be repeated exactly.
    seed: int = 0
    # Where to write the MP4; None = talking_head.mp4 in a new folder inside `scratch` (which must then be given).
    output_path: str | Path | None = None
    # A folder for temporary files (a job's scratch folder); None = beside the output.
    scratch: str | Path | None = None
    # Largest accepted photo in pixels (width * height); bigger is refused as a decompression bomb.
    max_image_pixels: int = 50_000_000


@dataclass(frozen=True)
class FaceBox:
    # Left, top, width and height in pixels of the source photo (before any resizing or cropping).
    x: int
    y: int
    width: int
    height: int


@dataclass
class TalkingHeadResult:
    # The H.264 (yuv420p) + AAC MP4, faststart.
    video_path: Path
    # Number of video frames written.
    frames: int
    fps: int
    # Video length in seconds (frames / fps); equals the audio length to within one frame.
    duration_s: float
    # Frame size in pixels.
    width: int
    height: int
    # The animated face, in source-photo pixels.
    face_box: FaceBox
    # Which backend rendered it ("embedded", or a neural backend's name).
    backend: str = "embedded"
    # Things the user should know: several faces found, silent audio, downscaling, fallbacks.
    notes: list[str] = field(default_factory=list)
    # Seconds spent, by stage ("analyse", "render"), for benchmarks and logs.
    timings: dict[str, float] = field(default_factory=dict)
    # The model and licence the backend that rendered it reports (set by backends.render_with).
    model: str = ""
    licence: str = ""
