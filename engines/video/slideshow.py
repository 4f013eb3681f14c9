"""Narrated slide decks to video: each slide image letterboxed (never cropped) to the video size for
its duration, transitions between slides, one chapter per slide, and an optional presenter (a
talking-head video) in a corner. The caller builds the narration to match the slide durations.

A deck can also be rendered a segment at a time (`SlideshowRequest.segment`: frames [first, end), picture
only) and the segments joined without encoding again (engines.video.encode.join_segments): a caller that
keeps segments renders again only those whose slides, presenter or captions changed. A segment can be cut
into pieces as it is drawn (`SlideshowRequest.cuts`, `render_slideshow_pieces`): one drawing pass (one
presenter decoder, each slide loaded once) writes a file a piece, so several neighbouring segments cost
about what one segment of their length costs."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio import Audio
from core.errors import InputError
from core.image import DEFAULT_MAX_PIXELS, load_image
from core.progress import CancelToken, ProgressFn, no_progress
from engines.checked import Checked
from engines.video import frames as F
from engines.video import yuv as Y
from engines.video.captions import CaptionLine
from engines.video.composite import POSITIONS, HeadOverlay, check_head_video
from engines.video.encode import VideoWriter, frames_for, to_yuv, write_poster
from engines.video.photos import check_audio
from engines.video.types import Chapter, VideoPlan, VideoResult, check_fps, parse_size

log = logging.getLogger(__name__)

# Most slides one video takes.
MAX_SLIDES = 200
# Shortest and longest time one slide may be shown, seconds.
SLIDE_S_RANGE = (0.5, 600.0)
# Largest accepted gap between the slides' total and the audio's length, seconds.
DURATION_TOLERANCE_S = 0.1
# Transition length range, seconds.
TRANSITION_S_RANGE = (0.0, 2.0)
# Letterbox colour around slides of another aspect.
BARS_RGB = (0, 0, 0)
# With captions, the band under the slide they are drawn in, as a fraction of the video height.
CAPTION_BAND = 0.18


@dataclass(frozen=True)
class Slide:
    # The slide as an image (PNG/JPEG), e.g. rendered from a .pptx page.
    image_path: Path
    # How long it stays on screen, seconds.
    duration_s: float
    # Chapter title ("" gives "Slide N").
    title: str = ""


@dataclass(frozen=True)
class SlideshowRequest:
    slides: list[Slide]
    # The narration; its length must equal the sum of the slide durations (within 0.1 s). None only for a
    # segment (picture only).
    audio: Audio | None
    # Output size: "WIDTHxHEIGHT" or a named size.
    size: str = "1280x720"
    # Frames per second (24, 25 or 30).
    fps: int = 30
    # One of frames.TRANSITIONS.
    transition: str = "crossfade"
    # Transition length, seconds (centred on each slide change).
    transition_s: float = 0.5
    # A talking-head video of the presenter drawn over the slides, or None.
    presenter_video: Path | None = None
    # Where the presenter goes: one of composite.POSITIONS.
    presenter_position: str = "bottom-right"
    # Presenter width as a fraction of the video width.
    presenter_scale: float = 0.26
    # True: the presenter has a side panel of its own and the slide fits in the rest, so it never covers
    # a title, a chart or a quote; False: drawn over the slide's corner.
    presenter_panel: bool = True
    # Largest slide image accepted, in pixels.
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    # Captions (timed lines, e.g. from engines.video.word_captions), drawn in a band under the slide so they
    # never cover it (and beside the presenter's panel); None for none.
    caption_lines: list[CaptionLine] | None = None
    # Only frames [first, end) of the deck, picture only and without chapters: a segment to be joined with
    # the others (engines.video.encode.join_segments). The presenter video and the caption lines are then
    # timed from the segment's first frame. None: the whole deck with its narration.
    segment: tuple[int, int] | None = None
    # With a segment: frames (of the deck, inside the segment, ascending) where another file begins
    # (render_slideshow_pieces); each piece is a segment of its own that join_segments takes.
    cuts: tuple[int, ...] = ()


def slide_area(width_px: int, head_box: tuple[int, int, int, int], position: str) -> tuple[int, int]:
    """The columns (first, end) a slide fills beside the presenter's side panel: the presenter's box with
    the same margin on its inner side as on its outer one."""
    x, _, w, _ = head_box
    if position == "full":
        return 0, width_px
    if position.endswith("left"):
        return min(width_px - 2, x + w + x), width_px
    return 0, max(2, x - (width_px - x - w))


def check_request(req: SlideshowRequest) -> Checked[SlideshowRequest, VideoPlan]:
    """Validate everything that can be checked before rendering."""
    slides = list(req.slides or [])
    if not slides:
        raise InputError("no slides given: give at least one slide")
    if len(slides) > MAX_SLIDES:
        raise InputError(f"{len(slides)} slides given; one video takes at most {MAX_SLIDES}")
    size, notes = parse_size(req.size)
    fps = check_fps(req.fps)
    if req.transition not in F.TRANSITIONS:
        raise InputError(f"transition {req.transition!r} is not offered: use one of {', '.join(F.TRANSITIONS)}")
    if not (TRANSITION_S_RANGE[0] <= float(req.transition_s) <= TRANSITION_S_RANGE[1]):
        raise InputError(f"the transition is {req.transition_s:g} s: use {TRANSITION_S_RANGE[0]:g} to "
                         f"{TRANSITION_S_RANGE[1]:g} s")
    for k, s in enumerate(slides, 1):
        d = float(s.duration_s)
        if not np.isfinite(d) or not (SLIDE_S_RANGE[0] <= d <= SLIDE_S_RANGE[1]):
            raise InputError(f"slide {k} lasts {d:g} s: each slide needs {SLIDE_S_RANGE[0]:g} to "
                             f"{SLIDE_S_RANGE[1]:g} s")
        if not Path(s.image_path).is_file():
            raise InputError(f"the image of slide {k} ({Path(s.image_path).name!r}) does not exist")
    total = sum(float(s.duration_s) for s in slides)
    if req.segment is not None:
        first, end = (int(x) for x in req.segment)
        if not (0 <= first < end <= frames_for(total, fps)):
            raise InputError(f"segment {req.segment} is not within the deck's {frames_for(total, fps)} frames")
        if req.audio is not None:
            raise InputError("a segment is picture only: give no audio (the joined video takes the narration)")
        cuts = [int(c) for c in req.cuts]
        if any(not (a < b) for a, b in zip([first, *cuts], [*cuts, end])):
            raise InputError(f"cuts {tuple(req.cuts)} do not divide the segment {req.segment} into pieces in order")
        return Checked(req, VideoPlan(size, fps), notes)
    if req.cuts:
        raise InputError("cuts divide a segment: give the segment (frames first, end) they lie in")
    if req.audio is None:
        raise InputError("the narration audio is needed (build it to match the slide durations)")
    check_audio(req.audio, "the narration")
    if abs(total - req.audio.duration_s) > DURATION_TOLERANCE_S:
        raise InputError(f"the slides last {total:.2f} s in total but the narration is {req.audio.duration_s:.2f} s: "
                         f"they must match within {DURATION_TOLERANCE_S} s")
    if req.presenter_video is not None:
        if req.presenter_position not in POSITIONS:
            raise InputError(f"presenter position {req.presenter_position!r} is not offered: use one of "
                             f"{', '.join(POSITIONS)}")
        check_head_video(req.presenter_video)
    return Checked(req, VideoPlan(size, fps), notes)


def render_slideshow(req: SlideshowRequest, out_path: str | Path, progress: ProgressFn | None = None,
                     cancel: CancelToken | None = None, scratch: Path | None = None) -> VideoResult:
    """Render the deck to `out_path` (MP4 with one chapter per slide) plus a JPEG poster (the first
    slide) beside it. `scratch`: a folder for the encoder's temporary files (a job's; None: beside the output)."""
    if req.cuts:
        raise InputError("a deck cut into pieces is written by render_slideshow_pieces, a file a piece")
    return render_slideshow_pieces(req, [Path(out_path)], progress, cancel, scratch)[0]


def render_slideshow_pieces(req: SlideshowRequest, out_paths: list[Path], progress: ProgressFn | None = None,
                            cancel: CancelToken | None = None, scratch: Path | None = None) -> list[VideoResult]:
    """Render the deck's segment cut at `req.cuts` into `out_paths` (one more than the cuts), each with a JPEG
    poster (its first frame) beside it, in one drawing pass. A piece's encoder finishes in the background while
    the next piece is drawn. Nothing is left behind on an error."""
    from concurrent.futures import ThreadPoolExecutor

    progress = progress or no_progress
    cancel = cancel or CancelToken()
    t0 = time.perf_counter()
    checked = check_request(req)
    size, fps, notes = checked.plan.size, checked.plan.fps, checked.notes
    W, H = size.width_px, size.height_px
    slides = list(req.slides)
    starts, acc = [], 0.0
    for s in slides:
        starts.append(acc)
        acc += float(s.duration_s)
    n_frames = frames_for(acc if req.audio is None else req.audio.duration_s, fps)
    end_s = n_frames / fps
    # The frames drawn (all, or a segment's), and the time the presenter and captions count from.
    first, end = req.segment if req.segment is not None else (0, n_frames)
    bounds = [first, *(int(c) for c in req.cuts), end]
    out_paths = [Path(p) for p in out_paths]
    if len(out_paths) != len(bounds) - 1:
        raise ValueError(f"{len(bounds) - 1} pieces need as many paths, got {len(out_paths)}")
    # Slide times are kept as given; the last slide absorbs the (under 0.1 s) difference to the audio.
    chapters = [Chapter(round(st, 3), s.title.strip() or f"Slide {k}")
                for k, (st, s) in enumerate(zip(starts, slides), 1)]
    transition_s = 0.0 if req.transition == "none" else float(req.transition_s)
    cache: dict[int, np.ndarray] = {}

    area = (0, W)  # the columns the slide is fitted into
    # The rows it is fitted into: all, or those above the captions' band.
    slide_h = H - int(round(H * CAPTION_BAND)) if req.caption_lines else H

    def slide_frame(i: int) -> np.ndarray:
        if i not in cache:
            for k in [k for k in cache if k < i - 1]:
                del cache[k]
            image = load_image(slides[i].image_path, req.max_image_pixels)
            frame = np.empty((H, W, 3), np.uint8)
            frame[:] = np.asarray(BARS_RGB, np.uint8)
            frame[:slide_h, area[0]:area[1]] = F.fit(image, area[1] - area[0], slide_h, BARS_RGB)
            cache[i] = frame
        return cache[i]

    posters = [p.with_suffix(".jpg") for p in out_paths]
    overlay = None
    step = max(1, fps // 2)
    writers: list[VideoWriter] = []
    closing = []
    closer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slideshow-close")
    try:
        if req.presenter_video is not None:
            overlay = HeadOverlay(req.presenter_video, (W, H), fps, req.presenter_position, req.presenter_scale)
            if req.presenter_panel:
                area = slide_area(W, overlay.box, req.presenter_position)
        captions = None
        if req.caption_lines:
            from engines.video.captions import CaptionRenderer, CaptionStyle, clip_lines

            band = H - slide_h
            style = CaptionStyle(font_frac=0.36 * band / H, bottom_frac=0.12 * band / H,
                                 max_width_frac=0.94 * (area[1] - area[0]) / W, centre_frac=(area[0] + area[1]) / 2 / W)
            lines = clip_lines(list(req.caption_lines), (end - first) / fps)
            captions = CaptionRenderer((W, H), style, lines) if lines else None
        # Frames are drawn in YUV 4:2:0, as the encoder takes them: each slide converted once.
        yuv_cache: dict[int, np.ndarray] = {}

        def slide_yuv(i: int) -> np.ndarray:
            if i not in yuv_cache:
                for k in [k for k in yuv_cache if k < i - 1]:
                    del yuv_cache[k]
                yuv_cache[i] = to_yuv(slide_frame(i))
            return yuv_cache[i]

        whole = req.segment is None
        for piece, path in enumerate(out_paths):
            writer = VideoWriter(path, W, H, fps, req.audio, chapters=chapters if whole else None, profile="still",
                                 scratch=scratch)
            writer.__enter__()
            writers.append(writer)
            for k in range(bounds[piece], bounds[piece + 1]):
                cancel.raise_if_set()
                t = k / fps
                shot = F.shot_at(t, starts, end_s, transition_s)
                buf = writer.yuv_buffer()
                np.copyto(buf, slide_yuv(shot.index))
                if shot.next_index is not None:
                    drawn = Y.transition(req.transition, buf, slide_yuv(shot.next_index), shot.progress)
                    if drawn is not buf:  # the next slide itself: copied, never drawn on
                        np.copyto(buf, drawn)
                own_t = (k - first) / fps  # the segment's time, counted in its own frames
                if captions is not None:
                    captions.draw_yuv(buf, own_t)
                if overlay is not None:
                    overlay.draw_yuv(buf, own_t)
                if k == bounds[piece]:
                    write_poster(Y.to_rgb(buf), posters[piece])
                writer.write_yuv(buf)
                if k % step == 0 or k == end - 1:
                    progress(k + 1 - first, end - first,
                             f"slide {shot.index + 1} of {len(slides)}, frame {k + 1} of {n_frames}")
            # The encoder drains its last frames while the next piece is drawn.
            closing.append(closer.submit(writer.close))
        for done in closing:
            done.result()
    except BaseException:
        for done in closing:
            done.exception()  # wait: a closing encoder is stopped below
        for writer in writers:
            writer.abort()
        for poster in posters:
            poster.unlink(missing_ok=True)
        raise
    finally:
        closer.shutdown(wait=True)
        if overlay is not None:
            overlay.close()
    metrics: dict = {"seconds": round(time.perf_counter() - t0, 3)}
    if req.presenter_video is not None:  # where the presenter and the slides are, in pixels of the frame
        metrics.update(presenter_box=list(overlay.box), slide_columns=list(area))
    if captions is not None:
        metrics.update(caption_band=[slide_h, H], caption_timeline=captions.timeline())
    return [VideoResult(path, W, H, fps, (b - a) / fps, b - a, poster if poster.is_file() else None,
                        chapters if whole else [], notes, metrics)
            for path, poster, a, b in zip(out_paths, posters, bounds, bounds[1:])]
