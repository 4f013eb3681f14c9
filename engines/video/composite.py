"""A talking-head video over a background: picture-in-picture in a corner (rounded corners, gold
border) or full frame. `HeadOverlay(...).draw(frame, t_s)` is the frame-level piece other renderers
reuse; `composite_talking_head` renders a whole video over a photo or a frame function."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio import Audio
from core.errors import InputError
from core.image import DEFAULT_MAX_PIXELS, load_image
from core.probe import ffmpeg_binary, probe_media
from core.progress import CancelToken, ProgressFn, no_progress
from engines.video import frames as F
from engines.video.decode import read_frames
from engines.video.encode import VideoWriter, frames_for, write_poster
from engines.video.types import VideoResult, VideoSize, check_fps, parse_size

log = logging.getLogger(__name__)

POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left", "full")
# Overlay width as a fraction of the frame width.
SCALE_RANGE = (0.1, 0.6)
GOLD = (0xD4, 0xAF, 0x37)
# Longest soundtrack, seconds.
MAX_AUDIO_S = 3600.0


def _rounded_mask(width: int, height: int, radius: float, supersample: int = 4) -> np.ndarray:
    """Opacity (height, width, 1) float32 of a rounded rectangle, antialiased by supersampling."""
    from PIL import Image, ImageDraw

    s = supersample
    im = Image.new("L", (width * s, height * s), 0)
    ImageDraw.Draw(im).rounded_rectangle((0, 0, width * s - 1, height * s - 1), radius=max(0.0, radius) * s, fill=255)
    im = im.resize((width, height), Image.Resampling.BOX)
    return (np.asarray(im, np.float32) / 255.0)[:, :, None]


def check_head_video(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"the talking-head video {path.name!r} does not exist")
    try:
        info = probe_media(path)
    except InputError:
        raise InputError(f"{path.name!r} is not a video this app can read: give an MP4 talking-head video") from None
    if not info["video_codec"] or not info["width"]:
        raise InputError(f"{path.name!r} has no video stream: give an MP4 talking-head video")
    return info


@dataclass
class _YuvPatch:
    """HeadOverlay.draw_yuv's frame-independent parts (HeadOverlay._make_yuv_patch)."""

    # Where the patch goes in the frame (even pixels).
    x: int
    y: int
    # The premultiplied RGB patch; the head's pixels are written into it each frame.
    rgb: np.ndarray
    # Where the head's top-left pixel lies in the patch.
    head_at: tuple[int, int]
    # The head's pixels are copied in whole; those it does not show through are then set back (their places
    # and colours), and those blended with the rim are computed: their places in the patch and in the head,
    # the head's weight and the rim's premultiplied colour.
    hidden: tuple[np.ndarray, np.ndarray]
    hidden_rgb: np.ndarray
    rim: tuple[np.ndarray, np.ndarray]
    rim_head: tuple[np.ndarray, np.ndarray]
    rim_alpha: np.ndarray
    rim_add: np.ndarray
    # Subtracted from each converted plane (the offsets of yuv.patch_yuv), and the clear planes.
    offsets: tuple[np.ndarray, np.ndarray, np.ndarray]
    clear: tuple[np.ndarray, np.ndarray, np.ndarray]


class HeadOverlay:
    """Draws frames of a talking-head video onto other frames: `draw(frame, t_s)`.

    frame_size: (width_px, height_px) of the frames drawn on; fps: their frame rate (the head video is
    resampled to it); position: one of POSITIONS; scale: overlay width / frame width (corners only).
    Past the end of the head video its last frame stays. Decoding streams through an ffmpeg pipe;
    call close() (or use `with`) to end it early."""

    def __init__(self, path: str | Path, frame_size, fps: int, position: str = "bottom-right",
                 scale: float = 0.3, border_rgb: tuple[int, int, int] = GOLD, info: dict | None = None) -> None:
        if hasattr(frame_size, "width_px"):
            frame_size = (frame_size.width_px, frame_size.height_px)
        if position not in POSITIONS:
            raise InputError(f"position {position!r} is not offered: use one of {', '.join(POSITIONS)}")
        if not (SCALE_RANGE[0] <= float(scale) <= SCALE_RANGE[1]):
            raise InputError(f"the presenter scale is {scale:g}: use {SCALE_RANGE[0]:g} to {SCALE_RANGE[1]:g} "
                             "of the frame width")
        self.path = Path(path)
        info = info or check_head_video(self.path)
        self.width_px, self.height_px = int(frame_size[0]), int(frame_size[1])
        self.fps = int(fps)
        self.position = position
        hw, hh = int(info["width"]), int(info["height"])
        W, H = self.width_px, self.height_px
        if position == "full":
            # Decode at the size that covers the frame, then crop the middle.
            s = max(W / hw, H / hh)
            self._decode_w, self._decode_h = max(W, int(round(hw * s / 2)) * 2), max(H, int(round(hh * s / 2)) * 2)
            self.box = (0, 0, W, H)
            self._outer = None
        else:
            ow = max(16, int(round(W * float(scale) / 2)) * 2)
            oh = max(16, int(round(ow * hh / hw / 2)) * 2)
            if oh > H * 0.9:
                oh = int(H * 0.9) // 2 * 2
                ow = max(16, int(round(oh * hw / hh / 2)) * 2)
            margin = int(round(min(W, H) * 0.04))
            x = margin if position.endswith("left") else W - ow - margin
            y = margin if position.startswith("top") else H - oh - margin
            self.box = (x, y, ow, oh)
            b = max(3, int(round(ow * 0.03)))
            radius = ow * 0.1
            self._border = b
            self._outer = _rounded_mask(ow, oh, radius)
            inner = np.zeros((oh, ow, 1), np.float32)
            inner[b:oh - b, b:ow - b] = _rounded_mask(ow - 2 * b, oh - 2 * b, max(0.0, radius - b))
            self._inner = inner
            self._border_rgb = np.asarray(border_rgb, np.float32)[None, None, :]
            self._decode_w, self._decode_h = ow - 2 * b, oh - 2 * b
        self._reader = None
        self._index = -1
        self._current: np.ndarray | None = None
        # draw_yuv's constant parts, made on its first call.
        self._yuv_patch: _YuvPatch | None = None
        self._ended = False

    def _open(self) -> None:
        self.close()
        self._reader = read_frames(self.path, self._decode_w, self._decode_h, fps=self.fps)
        self._index = -1
        self._current = None
        self._ended = False

    def head_frame(self, t_s: float) -> np.ndarray:
        """The head video's frame at `t_s` (at the decode size), holding the last one past the end."""
        want = max(0, int(round(t_s * self.fps)))
        if self._reader is None or want < self._index:
            self._open()
        while self._index < want and not self._ended:
            try:
                self._current = next(self._reader)
                self._index += 1
            except StopIteration:
                self._ended = True
        if self._current is None:
            raise InputError(f"the talking-head video {self.path.name!r} has no frames")
        return self._current

    def _framed(self, head: np.ndarray) -> np.ndarray:
        """The head in its gold rounded frame, float RGB the size of the box (corners: see `_outer`)."""
        _, _, ow, oh = self.box
        b = self._border
        patch = np.empty((oh, ow, 3), np.float32)
        patch[:] = self._border_rgb
        inner = self._inner[b:oh - b, b:ow - b]
        patch[b:oh - b, b:ow - b] = head.astype(np.float32) * inner + self._border_rgb * (1.0 - inner)
        return patch

    def draw(self, frame: np.ndarray, t_s: float) -> np.ndarray:
        """`frame` with the head drawn on at time `t_s` (a new array)."""
        head = self.head_frame(t_s)
        W, H = self.width_px, self.height_px
        if frame.shape[:2] != (H, W):
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, the overlay is for {W}x{H}")
        if self._outer is None:
            y0, x0 = (head.shape[0] - H) // 2, (head.shape[1] - W) // 2
            return np.ascontiguousarray(head[y0:y0 + H, x0:x0 + W])
        x, y, ow, oh = self.box
        patch = self._framed(head)
        out = frame.copy()
        roi = out[y:y + oh, x:x + ow].astype(np.float32)
        out[y:y + oh, x:x + ow] = (patch * self._outer + roi * (1.0 - self._outer) + 0.5).astype(np.uint8)
        return out

    def draw_yuv(self, yuv: np.ndarray, t_s: float) -> np.ndarray:
        """The head drawn at time `t_s` onto an I420 frame (yuv.i420's layout), in place; returns it.

        The same blend as `draw` followed by the RGB -> I420 conversion (yuv.patch_yuv), with everything that
        does not change from frame to frame (the gold frame, the rounded corners' masks, the clear planes and
        the offsets) made once: a frame then costs a copy of the head, its antialiased rim, one conversion of
        the box and the blend (about a tenth of the whole computation)."""
        import cv2

        from engines.video.encode import to_yuv
        from engines.video.yuv import blend_patch, planes

        head = self.head_frame(t_s)
        W, H = self.width_px, self.height_px
        if yuv.shape != (H * 3 // 2, W):
            raise ValueError(f"an I420 frame of {W}x{H} is ({H * 3 // 2}, {W}), got {yuv.shape}")
        if self._outer is None:
            y0, x0 = (head.shape[0] - H) // 2, (head.shape[1] - W) // 2
            np.copyto(yuv, to_yuv(np.ascontiguousarray(head[y0:y0 + H, x0:x0 + W])))
            return yuv
        p = self._yuv_patch or self._make_yuv_patch()
        rgb = p.rgb
        hy, hx = p.head_at
        hh, hw = head.shape[:2]
        np.copyto(rgb[hy:hy + hh, hx:hx + hw], head)
        rgb[p.hidden] = p.hidden_rgb  # the corners the head does not show through
        rgb[p.rim] = np.clip(head[p.rim_head] * p.rim_alpha + p.rim_add + 0.5, 0, 255).astype(np.uint8)
        premult = [np.ascontiguousarray(q) for q in planes(to_yuv(rgb))]
        for q, off in zip(premult, p.offsets):
            cv2.subtract(q, off, dst=q)  # saturating, as the clip at 0
        blend_patch(planes(yuv), p.x, p.y, tuple(premult), p.clear)
        return yuv

    def _make_yuv_patch(self) -> _YuvPatch:
        """What draw_yuv needs besides the head's pixels: yuv.patch_yuv's computation split into the part that
        depends on the head (copied or blended per frame) and the rest (made here, once)."""
        from engines.video.yuv import BLACK_Y, GREY_C

        x, y, ow, oh = self.box
        W, H, b = self.width_px, self.height_px, self._border
        # A patch on even pixels: a transparent row/column before an odd start, and after an odd end.
        dx, dy = x % 2, y % 2
        w2, h2 = ow + dx + (ow + dx) % 2, oh + dy + (oh + dy) % 2
        w2, h2 = min(w2, W - (x - dx)) // 2 * 2, min(h2, H - (y - dy)) // 2 * 2
        # The framed head premultiplied by the box's corners: head * alpha + add (see _framed and draw).
        alpha = np.zeros((h2, w2), np.float32)
        add = np.zeros((h2, w2, 3), np.float32)
        outer = np.zeros((h2, w2), np.float32)
        box = (slice(dy, dy + oh), slice(dx, dx + ow))
        crop = (slice(0, h2 - dy), slice(0, w2 - dx))
        outer[box][crop] = self._outer[:, :, 0][crop]
        alpha[box][crop] = (self._inner[:, :, 0] * self._outer[:, :, 0])[crop]
        add[box][crop] = (self._border_rgb * (1.0 - self._inner) * self._outer)[crop]
        hy, hx = dy + b, dx + b
        hh, hw = self._decode_h, self._decode_w
        head_alpha = alpha[hy:hy + hh, hx:hx + hw]
        head_add = add[hy:hy + hh, hx:hx + hw]
        # Where the head shows as it is, where it does not show, and where it is blended with the gold rim.
        solid = (head_alpha == 1.0) & (head_add == 0.0).all(axis=2)
        ry, rx = np.nonzero((head_alpha > 0.0) & ~solid)
        hidden_y, hidden_x = np.nonzero(head_alpha == 0.0)
        rgb = np.clip(add + 0.5, 0, 255).astype(np.uint8)  # everything the head does not reach
        clear = np.full((h2, w2), 255, np.uint8)
        clear[:] = np.clip(255.0 * (1.0 - outer) + 0.5, 0, 255).astype(np.uint8)
        opacity = 1.0 - clear.astype(np.float32) / 255.0
        oc = opacity[::2, ::2]  # where the chroma samples are taken (yuv.py's siting)
        # yuv.patch_yuv subtracts offset * (1 - opacity) from integer planes, rounding half up.
        off_y = np.ceil(BLACK_Y * (1.0 - opacity) - 0.5).astype(np.uint8)
        off_c = np.ceil(GREY_C * (1.0 - oc) - 0.5).astype(np.uint8)
        clear_c = np.clip(255.0 * (1.0 - oc) + 0.5, 0, 255).astype(np.uint8)
        self._yuv_patch = _YuvPatch(
            x=x - dx, y=y - dy, rgb=np.ascontiguousarray(rgb), head_at=(hy, hx),
            hidden=(hidden_y + hy, hidden_x + hx), hidden_rgb=rgb[hidden_y + hy, hidden_x + hx],
            rim=(ry + hy, rx + hx), rim_head=(ry, rx),
            rim_alpha=head_alpha[ry, rx][:, None], rim_add=head_add[ry, rx],
            offsets=(off_y, off_c, off_c), clear=(np.ascontiguousarray(clear), clear_c, clear_c))
        return self._yuv_patch

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> HeadOverlay:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def audio_from_video(path: str | Path) -> Audio | None:
    """The first audio stream of a video as mono 48 kHz float32, or None when it has none. Cut to the
    stream's stated duration (the decoder would add the last AAC frame's padding)."""
    info = probe_media(path)
    if not info["audio_codec"]:
        return None
    limit = ["-t", f"{info['audio_duration_s']:.6f}"] if info["audio_duration_s"] else []
    # Raw 16-bit samples through a pipe: no file to leave behind.
    proc = subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path),
                           "-map", "0:a:0", *limit, "-ac", "1", "-ar", "48000", "-f", "s16le", "-c:a", "pcm_s16le",
                           "pipe:1"],
                          capture_output=True)
    if proc.returncode != 0:
        raise InputError(f"cannot read the audio of {Path(path).name!r}: "
                         f"{proc.stderr.decode('utf-8', 'replace').strip()[:200]}")
    samples = np.frombuffer(proc.stdout, dtype="<i2").astype(np.float32) / 32768.0
    return Audio(samples, 48000)


Background = Callable[[float], np.ndarray] | str | Path | np.ndarray


def composite_talking_head(background: Background, head_video_path: str | Path, audio: Audio | None,
                           size: str | tuple[int, int] | VideoSize = "1280x720", fps: int = 30,
                           position: str = "bottom-right", scale: float = 0.3,
                           out_path: str | Path = "composite.mp4", progress: ProgressFn | None = None,
                           cancel: CancelToken | None = None, scratch: Path | None = None) -> VideoResult:
    """The talking head over `background` (a function t_s -> RGB frame of `size`, an image path, or an
    RGB array; images are cropped to fill the frame around their face or salient spot). The video is
    as long as `audio` (the head video's own audio when None); a JPEG poster is saved beside it.
    `scratch`: a folder for the encoder's temporary files (a job's; None: beside the output)."""
    progress = progress or no_progress
    cancel = cancel or CancelToken()
    t0 = time.perf_counter()
    vsize, notes = parse_size(size)
    fps = check_fps(fps)
    info = check_head_video(head_video_path)
    if audio is None:
        audio = audio_from_video(head_video_path)
        if audio is None:
            raise InputError("the talking-head video has no sound: give the audio to use")
    if audio.samples.size == 0 or audio.duration_s <= 0:
        raise InputError("the audio is empty (0 s)")
    if audio.duration_s > MAX_AUDIO_S:
        raise InputError(f"the audio is {audio.duration_s / 60:.0f} min long; at most {MAX_AUDIO_S / 60:.0f} min")
    W, H = vsize.width_px, vsize.height_px
    if callable(background):
        draw_background = background
    else:
        img = load_image(background if isinstance(background, (str, Path)) else np.asarray(background),
                         DEFAULT_MAX_PIXELS)
        focus = F.find_focus(img)
        still = F.cover(img, W, H, (focus.x, focus.y))

        def draw_background(t_s: float) -> np.ndarray:
            return still

    head_s = info["video_duration_s"] or info["duration_s"] or 0.0
    if head_s + 0.5 < audio.duration_s:
        notes.append(f"the talking head ({head_s:.1f} s) is shorter than the audio ({audio.duration_s:.1f} s): "
                     "its last frame stays")
    out_path = Path(out_path)
    poster_path = out_path.with_suffix(".jpg")
    n_frames = frames_for(audio.duration_s, fps)
    step = max(1, fps // 2)
    try:
        with HeadOverlay(head_video_path, (W, H), fps, position, scale, info=info) as overlay, \
                VideoWriter(out_path, W, H, fps, audio, scratch=scratch) as writer:
            for k in range(n_frames):
                cancel.raise_if_set()
                t = k / fps
                bg = draw_background(t)
                if bg.shape != (H, W, 3):
                    raise ValueError(f"the background frame is {bg.shape}, expected {(H, W, 3)}")
                frame = overlay.draw(bg, t)
                writer.write(frame)
                if k == n_frames // 2:
                    write_poster(frame, poster_path)
                if k % step == 0 or k == n_frames - 1:
                    progress(k + 1, n_frames, f"frame {k + 1} of {n_frames}")
    except BaseException:
        poster_path.unlink(missing_ok=True)
        raise
    return VideoResult(out_path, W, H, fps, n_frames / fps, n_frames, poster_path if poster_path.is_file() else None,
                       [], notes, {"seconds": round(time.perf_counter() - t0, 3), "overlay_box": list(overlay.box)})
