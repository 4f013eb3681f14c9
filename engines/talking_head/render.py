"""The embedded talking-head engine: photo + speech -> MP4, on the CPU, nothing downloaded.

Stages: read the photo and find the face (MediaPipe FaceMesh), frame it (whole photo or a face
crop at the asked size), read the speech into per-frame mouth parameters, plan blinks and head
motion, then warp each frame and stream it to ffmpeg.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio import Audio
from core.errors import InputError
from core.image import load_image
from core.progress import CancelToken, ProgressFn, Stages, no_progress
from core.scratch import private_dir
from engines.checked import Checked
from engines.talking_head import landmarks as L
from engines.talking_head.types import (
    AMOUNT_RANGE,
    FPS_CHOICES,
    MAX_AUDIO_SECONDS,
    MAX_OUTPUT_SIDE,
    MIN_PORTRAIT_SIDE_PX,
    FaceBox,
    TalkingHeadRequest,
    TalkingHeadResult,
)

log = logging.getLogger(__name__)

# Faces narrower than this (face-oval width in the photo, pixels) are refused: too little to animate.
MIN_FACE_PX = 64
# ... and narrower than this in the output frame.
MIN_FACE_OUT_PX = 56
# A face crop is this many face widths (or heights, the larger) on its side.
CROP_FACES = 2.1
# Shortest accepted speech, seconds.
MIN_AUDIO_SECONDS = 0.1


def _size(value) -> int | str:
    if isinstance(value, str):
        v = value.strip().lower()
        if v == "original":
            return "original"
        if v.isdigit():
            value = int(v)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and int(value) in (256, 512):
        return int(value)
    raise InputError(f"size must be 256, 512 or 'original', got {value!r}")


@dataclass(frozen=True)
class HeadPlan:
    # 256, 512 or "original".
    size: int | str
    # The speech, mono, finite and within -1..1 (None when checked before the speech exists).
    audio: Audio | None


def check_request(req: TalkingHeadRequest, audio_required: bool = True) -> Checked[TalkingHeadRequest, HeadPlan]:
    """InputError naming the field that is wrong. With `audio_required=False` a request without its speech
    yet (text to be spoken first) is checked for everything else."""
    size = _size(req.size)
    if req.fps not in FPS_CHOICES:
        raise InputError(f"fps must be 25 or 30, got {req.fps!r}")
    for name in ("expression", "head_motion"):
        v = getattr(req, name)
        if not isinstance(v, (int, float)) or not (AMOUNT_RANGE[0] <= float(v) <= AMOUNT_RANGE[1]):
            raise InputError(f"{name} must be between {AMOUNT_RANGE[0]:g} and {AMOUNT_RANGE[1]:g}, got {v!r}")
    if req.audio is None:
        if not audio_required:
            return Checked(req, HeadPlan(size, None))
        raise InputError("speech audio is needed to drive the face (synthesize the text first)")
    audio = req.audio.mono()
    if audio.sample_rate <= 0 or audio.samples.size == 0:
        raise InputError("the audio is empty")
    if audio.duration_s < MIN_AUDIO_SECONDS:
        raise InputError(f"the audio is too short ({audio.duration_s:.2f} s); at least {MIN_AUDIO_SECONDS} s is needed")
    if audio.duration_s > MAX_AUDIO_SECONDS:
        raise InputError(f"the audio is too long ({audio.duration_s:.0f} s); "
                         f"at most {MAX_AUDIO_SECONDS:.0f} s per video")
    samples = np.clip(np.nan_to_num(audio.samples.astype(np.float32)), -1.0, 1.0)
    return Checked(req, HeadPlan(size, Audio(samples, audio.sample_rate)))


def _even(x: float) -> int:
    return max(2, int(round(x / 2.0)) * 2)


def frame_portrait(rgb: np.ndarray, face: L.Face, size: int | str, crop: bool
                   ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The frame the video shows (RGB uint8, even sides) and the face's landmarks in its pixels."""
    import cv2

    notes: list[str] = []
    h, w = rgb.shape[:2]
    if crop:
        fx, fy, fw, fh = face.box
        side = CROP_FACES * max(fw, fh)
        side = min(side, float(min(w, h)))
        cx, cy = fx + fw / 2.0, fy + fh / 2.0 - 0.04 * fh
        x0 = int(round(min(max(cx - side / 2.0, 0.0), w - side)))
        y0 = int(round(min(max(cy - side / 2.0, 0.0), h - side)))
        s = int(round(side))
        src = rgb[y0:y0 + s, x0:x0 + s]
        offset = np.array([x0, y0], np.float32)
    else:
        src = rgb
        offset = np.zeros(2, np.float32)
    sh, sw = src.shape[:2]
    longest = max(sh, sw)
    if size == "original":
        target = min(longest, MAX_OUTPUT_SIDE)
        if longest > MAX_OUTPUT_SIDE:
            notes.append(f"the photo is {sw}x{sh}: the video is scaled down to {MAX_OUTPUT_SIDE} px on its longer side")
    else:
        target = int(size)
    scale = target / longest
    out_w, out_h = _even(sw * scale), _even(sh * scale)
    if scale > 1.6:
        notes.append(f"the {'face crop' if crop else 'photo'} ({sw}x{sh}) is enlarged {scale:.1f}x to "
                     f"{out_w}x{out_h}: a larger photo gives a sharper video")
    if (out_w, out_h) == (sw, sh):
        frame = np.ascontiguousarray(src)
    else:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        frame = cv2.resize(src, (out_w, out_h), interpolation=interp)
    pts = (face.points - offset) * np.array([out_w / sw, out_h / sh], np.float32)
    return frame, pts.astype(np.float32), notes


def _face_notes(face: L.Face) -> list[str]:
    notes = []
    p = face.points
    eye_mid = (p[L.EYE_OUTER_CORNERS[0]] + p[L.EYE_OUTER_CORNERS[1]]) / 2.0
    eye_dist = float(np.linalg.norm(p[L.EYE_OUTER_CORNERS[1]] - p[L.EYE_OUTER_CORNERS[0]]))
    turn = abs(float(p[L.NOSE_TIP][0] - eye_mid[0])) / max(eye_dist, 1.0)
    if turn > 0.25:
        notes.append("the face is turned away from the camera: the animation looks best on a frontal portrait")
    mouth_w = float(np.linalg.norm(p[L.MOUTH_CORNERS[1]] - p[L.MOUTH_CORNERS[0]]))
    gap = float(np.linalg.norm(p[L.INNER_LOWER_CENTER] - p[L.INNER_UPPER_CENTER]))
    if gap > 0.08 * mouth_w:
        notes.append("the mouth is open in the photo: at rest it stays as in the photo")
    return notes


def render(req: TalkingHeadRequest, progress: ProgressFn | None = None,
           cancel: CancelToken | None = None) -> TalkingHeadResult:
    """Render the talking head video for `req` with the embedded engine."""
    from engines.talking_head.animate import FaceAnimator
    from engines.talking_head.motion import plan_motion
    from engines.talking_head.mouth import analyse_speech
    from engines.video.encode import VideoWriter

    stages = Stages(progress or no_progress, {"face": 1, "speech": 1, "frames": 12})
    cancel = cancel or CancelToken()
    timings: dict[str, float] = {}
    notes: list[str] = []
    t0 = time.perf_counter()

    plan = check_request(req).plan
    size, audio = plan.size, plan.audio
    stages.report("face", 0.0, "finding the face")
    rgb = load_image(req.portrait, req.max_image_pixels, MIN_PORTRAIT_SIDE_PX)
    faces = L.find_faces(rgb)
    if not faces:
        raise InputError("no face found in the photo: use a photo where a face is clearly visible, "
                         "facing the camera and not covered")
    face = faces[0]
    if len(faces) > 1:
        x, y, fw, fh = (int(round(v)) for v in face.box)
        notes.append(f"{len(faces)} faces found: the largest one (at x={x}, y={y}, {fw}x{fh} px) is animated")
    if face.box[2] < MIN_FACE_PX:
        raise InputError(f"the face is too small ({face.box[2]:.0f} px wide, at least {MIN_FACE_PX} px): "
                         "use a photo where the face is larger, or crop it around the face")
    notes += _face_notes(face)
    frame, pts, framing_notes = frame_portrait(rgb, face, size, req.crop)
    notes += framing_notes
    out_face_w = float(np.ptp(pts[list(L.FACE_OVAL)][:, 0]))
    if out_face_w < MIN_FACE_OUT_PX:
        raise InputError(f"at this size the face would be only {out_face_w:.0f} px wide in the video (at least "
                         f"{MIN_FACE_OUT_PX}): choose the face crop or a larger size")
    cancel.raise_if_set()
    timings["face"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    fps = int(req.fps)
    n_frames = max(1, int(round(audio.duration_s * fps)))
    path = Path(req.output_path) if req.output_path else _new_output(req.scratch)
    height, width = frame.shape[:2]
    step = max(1, n_frames // 50)
    # The encoder starts first, so ffmpeg's start-up overlaps with reading the speech.
    with VideoWriter(path, width, height, fps, audio, profile="still", scratch=req.scratch) as writer:
        stages.report("speech", 0.0, "reading the speech")
        track = analyse_speech(audio, fps, n_frames)
        if track.silent:
            notes.append(f"the audio is silent (loudest {track.peak_dbfs:.0f} dBFS): the face idles with the "
                         "mouth closed")
        head_on = not req.still and req.head_motion > 0
        animator = FaceAnimator(frame, pts, expression=req.expression, head_motion=head_on)
        face_w_out = animator.head.face_width if animator.head is not None else 0.0
        motion = plan_motion(n_frames, fps, face_w_out, track, req.head_motion, req.still, req.blinks, req.seed)
        timings["speech"] = time.perf_counter() - t1

        t2 = time.perf_counter()
        for k in range(n_frames):
            cancel.raise_if_set()
            img = animator.frame(float(track.open[k]), float(track.shape[k]), float(motion.blink[k]),
                                 tuple(float(v) for v in motion.head[k]))
            writer.write(img)
            if k % step == 0:
                stages.report("frames", k / n_frames, f"frame {k + 1} of {n_frames}")
    stages.report("frames", 1.0, "done")
    timings["frames"] = time.perf_counter() - t2
    timings["total"] = time.perf_counter() - t0

    box = FaceBox(*(int(round(v)) for v in face.box))
    return TalkingHeadResult(path, n_frames, fps, n_frames / fps, width, height, box, "embedded", notes, timings)


def _new_output(scratch: str | Path | None) -> Path:
    if scratch is None:
        raise ValueError("say where the video goes: output_path, or a scratch folder to put it in")
    return private_dir(scratch, "talking-head-") / "talking_head.mp4"
