"""Scene videos and music videos: a scene template moving to a soundtrack, with an optional visualiser,
captions (karaoke lyrics for songs) and a title, encoded to H.264/AAC exactly as long as the audio.

`render_scene_video(SceneVideoRequest(...), out_path, progress, cancel)` and
`render_music_video(MusicVideoRequest(...), out_path, progress, cancel)` -> VideoResult.
Frames are drawn one at a time into a reused buffer and streamed to the encoder (VideoWriter), which
encodes on its own thread while the next frame is drawn.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio import Audio
from core.errors import InputError
from core.progress import CancelToken, ProgressFn, no_progress
from engines.checked import Checked
from engines.video.captions import CaptionLine
from engines.video.types import VideoPlan, VideoResult, VideoSize, check_fps, parse_size

log = logging.getLogger(__name__)

# Longest soundtrack a video is made for, seconds (one hour).
MAX_AUDIO_S = 3600.0
# Longest title, characters.
MAX_TITLE_CHARS = 120
# Most photos one scene takes.
MAX_IMAGES = 100
# How long the title stays (scene videos: over the scene; music videos: the title card), seconds,
# and how long it takes to dissolve into the scene.
TITLE_S = 3.0
TITLE_FADE_S = 0.8
# Progress is reported about this often, in frames.
PROGRESS_EVERY = 15


@dataclass(frozen=True)
class SceneVideoRequest:
    # The soundtrack; the video is exactly as long (None only when checking a request before loading it).
    audio: Audio | None
    # Scene template name (assets/scene_templates.json).
    template: str = "epic_battle"
    # Photos shown in turn as the scene's base picture; None for the procedural background.
    images: list[Path] | None = None
    # Caption text: LRC (timed, karaoke highlight) or plain text spread over the audio; "" for none.
    captions: str = ""
    # Caption lines already timed word by word (e.g. recognised from the audio by
    # engines.video.word_captions.lines_from_words); None for none. Not together with `captions`.
    caption_lines: list[CaptionLine] | None = None
    # Output size: "WIDTHxHEIGHT" or a named size (720p, 1080p, square, vertical).
    size: str = "1280x720"
    # Frames per second (24, 25 or 30).
    fps: int = 30
    # Visualiser drawn over the scene: "bars", "waveform", "circle", or None.
    visualiser: str | None = None
    # Title shown over the first seconds ("" for none).
    title: str = ""
    # Seed of the scene's procedural motion (same seed, same video).
    seed: int = 0
    # A talking-head video composited over the scene (None for none), and where: a corner
    # (picture in picture) or "full" (the whole frame).
    presenter_video: Path | None = None
    presenter_position: str = "bottom-right"


@dataclass(frozen=True)
class MusicVideoRequest:
    # The song; the video is exactly as long (None only when checking a request before loading it).
    audio: Audio | None
    # The song's lyrics as LRC (line or word timed); "" for none.
    lrc: str
    # Song title shown on the title card at the start.
    title: str
    # Scene template name (assets/scene_templates.json).
    template: str = "epic_battle"
    # Output size: "WIDTHxHEIGHT" or a named size.
    size: str = "1280x720"
    # Frames per second (24, 25 or 30).
    fps: int = 30
    # Visualiser drawn over the scene: "bars", "waveform", "circle", or None.
    visualiser: str | None = "bars"
    # Photos shown in turn as the base picture; None for the procedural background.
    images: list[Path] | None = None
    # Seed of the scene's procedural motion.
    seed: int = 0
    # How long the title card stays at the start, seconds (it dissolves into the scene).
    title_s: float = TITLE_S


def _check_audio(audio: Audio | None) -> None:
    if audio is None:
        return
    if len(audio.samples) == 0 or audio.duration_s <= 0:
        raise InputError("the audio is 0 s long: give a sound file with sound in it")
    if audio.duration_s > MAX_AUDIO_S:
        raise InputError(f"the audio is {audio.duration_s / 60:.1f} minutes long; a video takes at most "
                         f"{MAX_AUDIO_S / 60:.0f} minutes")


def check_request(req: SceneVideoRequest | MusicVideoRequest
                  ) -> Checked[SceneVideoRequest | MusicVideoRequest, VideoPlan]:
    """Validate everything but the files' contents. InputError on a bad field."""
    from engines.video.scenes import get_template
    from engines.video.visualiser import check_kind

    get_template(req.template)
    size, notes = parse_size(req.size)
    fps = check_fps(req.fps)
    check_kind(req.visualiser)
    _check_audio(req.audio)
    title = req.title or ""
    if len(title) > MAX_TITLE_CHARS:
        raise InputError(f"the title is {len(title)} characters long; at most {MAX_TITLE_CHARS}")
    images = list(req.images or [])
    if len(images) > MAX_IMAGES:
        raise InputError(f"{len(images)} photos given; a scene takes at most {MAX_IMAGES}")
    for p in images:
        if not isinstance(p, np.ndarray) and not Path(p).is_file():
            raise InputError(f"the photo {Path(p).name!r} does not exist")
    presenter = getattr(req, "presenter_video", None)
    if presenter is not None:
        from engines.video.composite import POSITIONS

        if req.presenter_position not in POSITIONS:
            raise InputError(f"presenter position {req.presenter_position!r} is not offered: use one of "
                             f"{', '.join(POSITIONS)}")
    if getattr(req, "caption_lines", None) and (req.captions or "").strip():
        raise InputError("give captions as text or as timed lines, not both")
    from engines.video.captions import check_captions

    check_captions(getattr(req, "captions", None) or getattr(req, "lrc", None))
    if isinstance(req, MusicVideoRequest) and not (0.0 <= float(req.title_s) <= 30.0):
        raise InputError(f"the title card lasts {req.title_s:g} s; use 0 to 30 s")
    return Checked(req, VideoPlan(size, fps), notes)


class _TitleOverlay:
    """The title in gold over the scene for the first seconds: rasterised once, alpha-blended per frame."""

    def __init__(self, size: VideoSize, title: str, duration_s: float = TITLE_S,
                 columns: tuple[int, int] | None = None) -> None:
        from PIL import Image, ImageDraw, ImageFilter, ImageFont

        from engines.video.cards import BOLD_FONT, GOLD

        w, h = size.width_px, size.height_px
        # The columns the title is centred in (beside a presenter in a corner); the whole width by default.
        c0, c1 = columns or (0, w)
        self.duration_s = duration_s
        px = max(14, int(h * 0.08))

        def load(size_px: int):
            try:
                return ImageFont.truetype(str(BOLD_FONT), size_px)
            except OSError:
                return ImageFont.load_default(size=size_px)

        font = load(px)
        while font.getlength(title) > 0.86 * (c1 - c0) and px > 10:
            px = int(px * 0.9)
            font = load(px)
        tw = int(font.getlength(title)) + 1
        asc, desc = font.getmetrics()
        pad = max(4, px // 3)
        pw, ph = min(c1 - c0, tw + 2 * pad), min(h, asc + desc + 2 * pad)
        mask = Image.new("L", (pw, ph), 0)
        ImageDraw.Draw(mask).text((pad, pad), title, font=font, fill=255)
        shadow = mask.filter(ImageFilter.GaussianBlur(max(1.0, px / 10)))
        text_a = np.asarray(mask, np.float32)[:, :, None] / 255.0
        shadow_a = np.asarray(shadow, np.float32)[:, :, None] / 255.0 * 0.8
        self.alpha = text_a + shadow_a * (1 - text_a)
        self.rgb = np.asarray(GOLD, np.float32)[None, None, :] * text_a  # shadow is black
        self.x, self.y = c0 + (c1 - c0 - pw) // 2, max(0, int(h * 0.16) - ph // 2)

    def draw(self, frame: np.ndarray, t_s: float) -> np.ndarray:
        if t_s >= self.duration_s:
            return frame
        level = min(1.0, t_s / 0.5, (self.duration_s - t_s) / TITLE_FADE_S)
        if level <= 0:
            return frame
        ph, pw = self.alpha.shape[:2]
        roi = frame[self.y:self.y + ph, self.x:self.x + pw]
        a = self.alpha * level
        roi[:] = (self.rgb * level + roi.astype(np.float32) * (1 - a) + 0.5).astype(np.uint8)
        return frame


def _draw_rgb(i: int, t: float, card_alpha: float, buf: np.ndarray, scene, vis, card, head, overlay,
              captions) -> np.ndarray:
    """Frame i drawn in RGB (title cards, presenters and title overlays draw there), without grain."""
    frame = buf
    if card_alpha < 1.0:
        frame = scene.frame(i, buf, grain=False)
        if vis is not None:
            vis.draw(frame, i)
    if card_alpha > 0.0:
        import cv2

        still = card.frame(min(t, 0.6)) if t < 0.6 else card.still  # fade in from black only
        if card_alpha >= 1.0:
            frame[:] = still
        else:
            cv2.addWeighted(still, card_alpha, frame, 1.0 - card_alpha, 0.0, dst=frame)
    if head is not None and card_alpha < 1.0:
        frame = head.draw(frame, t)
    if overlay is not None:
        overlay.draw(frame, t)
    if captions is not None:
        frame = captions.draw(frame, t, out=buf)  # into the loop's own buffer (in place when frame is buf)
    return frame


def _render(audio: Audio, template: str, images, size: VideoSize, fps: int,
            visualiser: str | None, captions_text: str, title: str, title_card_s: float, seed: int,
            out_path: Path, notes: list[str], progress: ProgressFn | None,
            cancel: CancelToken | None, presenter: tuple[Path, str] | None = None,
            caption_lines: list[CaptionLine] | None = None, scratch: Path | None = None) -> VideoResult:
    from engines.video.beats import analyse_audio
    from engines.video.encode import VideoWriter, to_yuv, write_poster
    from engines.video.scenes import SceneRenderer
    from engines.video.visualiser import Visualiser, check_kind
    from engines.video.yuv import to_rgb

    progress = progress or no_progress
    cancel = cancel or CancelToken()
    t_start = time.perf_counter()
    progress(0, 1, "analysing the audio")
    features = analyse_audio(audio, fps)
    cancel.raise_if_set()
    progress(0.05, 1, "preparing the scene")
    scene = SceneRenderer(template, size, fps, features, images=list(images) if images else None, seed=seed)
    kind = check_kind(visualiser)
    vis = Visualiser(kind, size, features) if kind else None
    head = None
    # Title and captions go beside a presenter in a corner, never under it.
    columns = (0, size.width_px)
    if presenter is not None:
        from engines.video.composite import HeadOverlay
        from engines.video.slideshow import slide_area

        head = HeadOverlay(presenter[0], (size.width_px, size.height_px), fps, presenter[1])
        columns = slide_area(size.width_px, head.box, presenter[1])
    captions = None
    if caption_lines or (captions_text or "").strip():
        from engines.video.captions import CaptionRenderer, CaptionStyle, clip_lines, parse_captions

        lines = (clip_lines(list(caption_lines), audio.duration_s) if caption_lines
                 else parse_captions(captions_text, audio.duration_s))
        style = CaptionStyle(max_width_frac=0.86 * (columns[1] - columns[0]) / size.width_px,
                             centre_frac=(columns[0] + columns[1]) / 2 / size.width_px)
        captions = CaptionRenderer(size, style, lines) if lines else None
    card = overlay = None
    if title and title_card_s > 0:
        from engines.video.cards import title_card

        card = title_card(size.width_px, size.height_px, title, duration_s=title_card_s)
    elif title:
        overlay = _TitleOverlay(size, title, columns=columns)
    cancel.raise_if_set()

    n = features.n_frames
    w, h = size.width_px, size.height_px
    buf = np.empty((h, w, 3), np.uint8)
    poster_index = min(n - 1, max(int(n * 0.4), int((title_card_s + 0.5) * fps) if card else 0))
    poster = None
    draw_s = 0.0
    # Frames with nothing over the scene but a visualiser and captions are drawn in YUV (half the samples
    # of RGB, no conversion); a presenter, a title and title cards draw on RGB frames.
    yuv_frames = scene.draws_yuv and head is None and overlay is None
    out_path = Path(out_path)
    with contextlib.ExitStack() as stack:
        if head is not None:
            stack.callback(head.close)
        writer = stack.enter_context(VideoWriter(out_path, w, h, fps, audio, scratch=scratch))
        for i in range(n):
            if i % 4 == 0:
                cancel.raise_if_set()
            t0 = time.perf_counter()
            t = i / fps
            card_alpha = 0.0
            if card is not None and t < card.duration_s:
                card_alpha = min(1.0, (card.duration_s - t) / TITLE_FADE_S)
            if yuv_frames and card_alpha == 0.0:
                # Scene, visualiser and captions only: drawn straight into the I420 frame the encoder takes.
                yuv = scene.frame_yuv(i, writer.yuv_buffer(), grain=False)
                if vis is not None:
                    vis.draw_yuv(yuv, i)
                if captions is not None:
                    captions.draw_yuv(yuv, t)
                frame = None
            else:
                frame = _draw_rgb(i, t, card_alpha, buf, scene, vis, card, head, overlay, captions)
                yuv = to_yuv(frame)
            if card_alpha < 1.0:  # film grain over the finished picture, on its luma
                scene.grain_luma(yuv, i)
            draw_s += time.perf_counter() - t0
            if i == poster_index:
                poster = to_rgb(yuv) if frame is None else frame.copy()
            writer.write_yuv(yuv)
            if i % PROGRESS_EVERY == 0:
                progress(0.08 + 0.9 * i / n, 1, f"drawing frame {i + 1} of {n}")
        cancel.raise_if_set()
    poster_path = None
    if poster is not None:
        poster_path = write_poster(poster, out_path.with_suffix(".jpg"))
    total_s = time.perf_counter() - t_start
    progress(1, 1, "done")
    metrics = {"template": scene.template.name, "tempo_bpm": round(features.tempo_bpm, 2),
               "beats": int(features.beat_times_s.size), "draw_ms_per_frame": round(1000 * draw_s / n, 2),
               "render_s": round(total_s, 2), "realtime_factor": round(total_s / max(audio.duration_s, 1e-6), 3)}
    log.info("scene video %s: %d frames %dx%d, %.1f ms/frame drawing, %.2f s total", out_path.name, n, w, h,
             metrics["draw_ms_per_frame"], total_s)
    return VideoResult(path=out_path, width_px=w, height_px=h, fps=fps, duration_s=n / fps, frames=n,
                       poster_path=poster_path, notes=list(notes), metrics=metrics)


def render_scene_video(req: SceneVideoRequest, out_path: str | Path, progress: ProgressFn | None = None,
                       cancel: CancelToken | None = None, scratch: Path | None = None) -> VideoResult:
    """The scene template moving to `req.audio`, over the photos (or its own background), with the
    optional visualiser, captions and title; an MP4 at `out_path` plus a JPEG poster next to it.
    `scratch`: a folder for the encoder's temporary files (a job's; None: beside the output)."""
    if req.audio is None:
        raise InputError("give the audio the scene moves to")
    checked = check_request(req)
    size, fps, notes = checked.plan.size, checked.plan.fps, checked.notes
    presenter = (Path(req.presenter_video), req.presenter_position) if req.presenter_video else None
    return _render(req.audio, req.template, req.images, size, fps, req.visualiser, req.captions, req.title, 0.0,
                   int(req.seed), Path(out_path), notes, progress, cancel, presenter, req.caption_lines, scratch)


def render_music_video(req: MusicVideoRequest, out_path: str | Path, progress: ProgressFn | None = None,
                       cancel: CancelToken | None = None, scratch: Path | None = None) -> VideoResult:
    """A music video for a song: the title card at the start dissolving into the scene, the visualiser,
    and the lyrics as karaoke captions in time with the song. `scratch`: a folder for the encoder's
    temporary files (a job's; None: beside the output)."""
    if req.audio is None:
        raise InputError("give the song to make the video for")
    checked = check_request(req)
    size, fps, notes = checked.plan.size, checked.plan.fps, checked.notes
    title_s = min(float(req.title_s), req.audio.duration_s / 2) if (req.title or "").strip() else 0.0
    return _render(req.audio, req.template, req.images, size, fps, req.visualiser, req.lrc, (req.title or "").strip(),
                   title_s, int(req.seed), Path(out_path), notes, progress, cancel, scratch=scratch)
