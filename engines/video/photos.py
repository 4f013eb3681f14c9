"""Photos to video: each photo slowly pans and zooms (Ken Burns) toward or away from its face, or its
most salient spot, with transitions between photos; timed to the audio (its length split evenly over
the photos) or to a fixed number of seconds per photo."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio import Audio
from core.errors import InputError
from core.image import DEFAULT_MAX_PIXELS, load_image, open_image
from core.progress import CancelToken, ProgressFn, no_progress
from engines.checked import Checked
from engines.video import frames as F
from engines.video.encode import VideoWriter, frames_for, write_poster
from engines.video.types import VideoResult, VideoSize, check_fps, parse_size
from engines.video.yuv import PanZoomYuv, i420, planes, to_rgb
from engines.video.yuv import transition as yuv_transition

log = logging.getLogger(__name__)

# Most photos one video takes.
MAX_IMAGES = 100
# Longest soundtrack, seconds.
MAX_AUDIO_S = 3600.0
# Seconds each photo may be shown for when there is no audio.
SECONDS_PER_IMAGE_RANGE = (0.5, 60.0)
# Transition length range, seconds.
TRANSITION_S_RANGE = (0.0, 3.0)
# Shortest time one photo may get when the audio is split over the photos, seconds.
MIN_SECONDS_PER_PHOTO = 0.4
# How far the pan/zoom magnifies over one photo (1.0 = no zoom).
ZOOM = 1.18
# A photo whose aspect differs from the video's by more than this factor is shown whole over a
# blurred backdrop instead of being cropped (a 4:3 photo in 16:9 is cropped; a portrait is not).
MAX_CROP_MISMATCH = 1.4
# Brightness of that backdrop (1 = as the photo).
BACKDROP_LEVEL = 0.45


@dataclass(frozen=True)
class ImageToVideoRequest:
    # Photo files, shown in this order (any sizes: each is fitted to the video size).
    images: list[Path]
    # Soundtrack; its length sets the video length and is split evenly over the photos. None: silent video.
    audio: Audio | None = None
    # Seconds per photo when there is no audio.
    seconds_per_image: float = 4.0
    # Output size: "WIDTHxHEIGHT" or a named size (see engines.video.types.NAMED_SIZES).
    size: str = "1280x720"
    # Frames per second (24, 25 or 30).
    fps: int = 30
    # One of frames.TRANSITIONS.
    transition: str = "crossfade"
    # Length of each transition in seconds (centred on the cut, shortened to fit short photos).
    transition_s: float = 0.8
    # Largest photo accepted, in pixels.
    max_image_pixels: int = DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class PhotoPlan:
    # The output size after rounding to even edges.
    size: VideoSize
    fps: int
    # Video length in seconds (before snapping to the frame grid).
    duration_s: float
    # Where each photo starts on the timeline, seconds.
    starts_s: list[float]
    # Transition length actually used, seconds.
    transition_s: float


def _number(value, name: str, lo: float, hi: float, unit: str = "s") -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} {value!r} is not a number: use {lo:g} to {hi:g} {unit}") from None
    if not np.isfinite(v) or not (lo <= v <= hi):
        raise InputError(f"{name} is {v:g} {unit}: use {lo:g} to {hi:g} {unit}")
    return v


def check_audio(audio: Audio | None, what: str = "the audio") -> None:
    """InputError for empty, silent-length or over-an-hour audio."""
    if audio is None:
        return
    if audio.sample_rate <= 0 or audio.samples.size == 0 or audio.duration_s <= 0:
        raise InputError(f"{what} is empty (0 s): give a soundtrack, or none for a silent video")
    if audio.duration_s > MAX_AUDIO_S:
        raise InputError(f"{what} is {audio.duration_s / 60:.0f} min long; at most {MAX_AUDIO_S / 60:.0f} min "
                         "(1 hour) per video")


def check_request(req: ImageToVideoRequest, validate_files: bool = True) -> Checked[ImageToVideoRequest, PhotoPlan]:
    """Validate everything before any frame is drawn. With `validate_files`, each photo's header is
    read so a bad file is named now rather than halfway through the render."""
    images = list(req.images or [])
    if not images:
        raise InputError("no photos given: give at least one photo")
    if len(images) > MAX_IMAGES:
        raise InputError(f"{len(images)} photos given; one video takes at most {MAX_IMAGES} photos")
    size, notes = parse_size(req.size)
    fps = check_fps(req.fps)
    if req.transition not in F.TRANSITIONS:
        raise InputError(f"transition {req.transition!r} is not offered: use one of {', '.join(F.TRANSITIONS)}")
    transition_s = _number(req.transition_s, "the transition", *TRANSITION_S_RANGE)
    check_audio(req.audio)
    n = len(images)
    if req.audio is not None:
        duration = req.audio.duration_s
        per = duration / n
        if per < MIN_SECONDS_PER_PHOTO:
            raise InputError(f"{n} photos over {duration:.1f} s of audio is {per:.2f} s per photo; at least "
                             f"{MIN_SECONDS_PER_PHOTO} s each is needed: use fewer photos or longer audio")
    else:
        per = _number(req.seconds_per_image, "seconds per photo", *SECONDS_PER_IMAGE_RANGE)
        duration = per * n
    if req.transition == "none":
        transition_s = 0.0
    elif transition_s > per / 2.0 and n > 1:
        notes.append(f"transitions shortened to {per / 2.0:.2f} s: each photo is shown for only {per:.2f} s")
        transition_s = per / 2.0
    if validate_files:
        for path in images:  # headers only: a missing, unreadable or oversized photo is refused before any frame
            open_image(path, req.max_image_pixels).close()
    return Checked(req, PhotoPlan(size, fps, duration, [i * per for i in range(n)], transition_s), notes)


@dataclass
class _Photo:
    # The photo cropped to the video's aspect at ZOOM times the output size (even sides), in YUV 4:2:0
    # ready for sub-pixel pan/zoom views of its planes.
    view: PanZoomYuv
    # Pan/zoom target in `base` pixels (face or salient spot).
    focus_px: tuple[float, float]
    # True: zoom in toward the focus; False: start on it and pull back out.
    zoom_in: bool
    # "face", "saliency" or "centre".
    source: str


def prepare_photo(path: Path, size: VideoSize, index: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> _Photo:
    """Load one photo and set up its pan/zoom: even photos zoom in, odd ones pull out.

    A photo near the video's shape is cropped to fill it around the focus; one of a very different
    shape (a portrait photo in a landscape video) is shown whole over a blurred, darkened copy of
    itself, so nobody's head is cut off."""
    img = load_image(path, max_pixels)
    focus = F.find_focus(img)
    bw, bh = (2 * int(round(v * ZOOM / 2.0)) for v in (size.width_px, size.height_px))  # even: 4:2:0
    ih, iw = img.shape[:2]
    mismatch = (iw / ih) / (bw / bh)
    if max(mismatch, 1.0 / mismatch) <= MAX_CROP_MISMATCH:
        # Crop to the output aspect around the focus, so the face is inside the picture we move over.
        x, y, cw, ch = F.cover_box(iw, ih, bw, bh, (focus.x, focus.y))
        base = F._resize(img[y:y + ch, x:x + cw], bw, bh)
        fx = (focus.x * iw - x) / cw * bw
        fy = (focus.y * ih - y) / ch * bh
    else:
        base = blurred_fill(img, bw, bh)
        scale = min(bw / iw, bh / ih)
        nw, nh = max(1, int(round(iw * scale))), max(1, int(round(ih * scale)))
        x0, y0 = (bw - nw) // 2, (bh - nh) // 2
        base[y0:y0 + nh, x0:x0 + nw] = F._resize(img, nw, nh)
        fx, fy = x0 + focus.x * nw, y0 + focus.y * nh
    return _Photo(PanZoomYuv(base), (fx, fy), index % 2 == 0, focus.source)


def blurred_fill(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """The image cropped to fill width x height, heavily blurred and darkened: a backdrop for a photo
    shown whole."""
    import cv2

    small_w, small_h = max(8, width // 8), max(8, height // 8)
    small = F.cover(img, small_w, small_h)
    small = cv2.GaussianBlur(small, (0, 0), max(small_w, small_h) / 40.0)
    return cv2.convertScaleAbs(F._resize(small, width, height), alpha=BACKDROP_LEVEL)


def ken_burns(photo: _Photo, size: VideoSize, u: float, out: np.ndarray | None = None) -> np.ndarray:
    """The photo's frame at `u` (0..1) of its time on screen, as an I420 array (drawn into `out` when
    given): zoom 1 -> ZOOM while the view centre moves from the middle to the focus (or the reverse for
    a pull-out). Drawn in YUV: half the samples of RGB, and what the encoder takes."""
    u = min(max(float(u), 0.0), 1.0)
    if not photo.zoom_in:
        u = 1.0 - u
    e = u * u * (3.0 - 2.0 * u) * 0.5 + u * 0.5  # gentle ease at both ends, still moving throughout
    w, h = photo.view.width_px, photo.view.height_px
    zoom = 1.0 + (ZOOM - 1.0) * e
    cx = w / 2.0 + (photo.focus_px[0] - w / 2.0) * e
    cy = h / 2.0 + (photo.focus_px[1] - h / 2.0) * e
    # The base is ZOOM x the output: a view of base/zoom scaled to the output size.
    if out is None:
        out = i420(size.width_px, size.height_px)
    photo.view.crop_zoom((cx, cy), zoom, planes(out))
    return out


def image_to_video(req: ImageToVideoRequest, out_path: str | Path, progress: ProgressFn | None = None,
                   cancel: CancelToken | None = None, scratch: Path | None = None) -> VideoResult:
    """Render the photo video to `out_path` (MP4, H.264 + AAC when there is audio) with a JPEG poster
    beside it (same name, .jpg). `scratch`: a folder for the encoder's temporary files (a job's; None:
    beside the output)."""
    progress = progress or no_progress
    cancel = cancel or CancelToken()
    t0 = time.perf_counter()
    result = check_request(req)
    checked = result.plan
    size, fps = checked.size, checked.fps
    out_path = Path(out_path)
    poster_path = out_path.with_suffix(".jpg")
    n_frames = frames_for(checked.duration_s, fps)
    # On the frame grid the timeline ends at n_frames / fps (within half a frame of the asked length).
    end_s = n_frames / fps
    scale = end_s / checked.duration_s
    starts = [s * scale for s in checked.starts_s]
    n = len(starts)
    photos: dict[int, _Photo] = {}
    sources: list[str] = [""] * n
    spans = [F.shot_span(i, starts, end_s, checked.transition_s) for i in range(n)]
    poster_frame = int(min(spans[0][1], end_s) * fps / 2)

    def photo(i: int) -> _Photo:
        if i not in photos:
            for k in [k for k in photos if k < i - 1]:
                del photos[k]
            cancel.raise_if_set()
            photos[i] = prepare_photo(Path(req.images[i]), size, i, req.max_image_pixels)
            sources[i] = photos[i].source
        return photos[i]

    # During a transition the incoming shot is drawn here (the outgoing one into the writer's buffer).
    incoming = i420(size.width_px, size.height_px)

    def shot_frame(i: int, t: float, out: np.ndarray) -> np.ndarray:
        a, b = spans[i]
        return ken_burns(photo(i), size, (t - a) / max(b - a, 1e-6), out)

    step = max(1, fps // 2)
    progress(0, n_frames, "preparing the photos")
    try:
        with VideoWriter(out_path, size.width_px, size.height_px, fps, req.audio, scratch=scratch) as writer:
            for k in range(n_frames):
                cancel.raise_if_set()
                t = k / fps
                shot = F.shot_at(t, starts, end_s, checked.transition_s)
                frame = shot_frame(shot.index, t, writer.yuv_buffer())
                if shot.next_index is not None:
                    mixed = yuv_transition(req.transition, frame, shot_frame(shot.next_index, t, incoming),
                                           shot.progress)
                    if mixed is not frame:  # past the middle of a cut: the incoming shot itself
                        frame[...] = mixed
                writer.write_yuv(frame)
                if k == poster_frame:
                    write_poster(to_rgb(frame), poster_path)
                if k % step == 0 or k == n_frames - 1:
                    progress(k + 1, n_frames, f"photo {shot.index + 1} of {n}, frame {k + 1} of {n_frames}")
    except BaseException:
        poster_path.unlink(missing_ok=True)
        raise
    notes = list(result.notes)
    found = sum(1 for s in sources if s == "face")
    notes.append(f"faces found in {found} of {n} photos: those pan and zoom on the face")
    return VideoResult(out_path, size.width_px, size.height_px, fps, n_frames / fps, n_frames,
                       poster_path if poster_path.is_file() else None, [], notes,
                       {"seconds": round(time.perf_counter() - t0, 3), "focus": sources,
                        "starts_s": [round(s, 4) for s in starts], "transition_s": checked.transition_s})
