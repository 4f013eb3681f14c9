"""Invisible video watermark: a keyed payload in the picture's luma, found again after re-encoding,
scaling and cropping.

    marker = Marker(height, width, payload, key, host=mean_luma)   # once per video
    y_marked = marker.apply(y)                                       # every frame's Y plane (uint8)
    found = detect(mean_luma_of_frames, key)                         # Detection(found, payload, ...)

The frame is seen as a GRID x GRID lattice of cells in normalised coordinates (whatever its size or
shape). Every cell's luma is nudged up or down through a smooth (bicubic) field: a share of the cells
by a keyed pilot pattern, the others by the payload's bits (with a CRC-16: the same word and key as
the audio watermark's), each bit spread over cells chosen by the key. The same field is added to
every frame, so the detector averages the frames: moving content and codec noise average out. What
stays of a still picture is handled when marking (informed embedding): knowing the picture, the cells
whose own detail points the wrong way get what they need to be read right, the cheapest first,
within the strength budget.

Detection takes the mean luma, removes its slow changes (a Gaussian blur of one cell) and counts,
cell by cell, agreement in sign with the pattern (values clipped at CLIP levels, so edges and texture
weigh no more than flat areas). It searches the crops and scalings the mark survives: the visible
part may be MIN_VISIBLE (90 %) to 100 % of the original width and, independently, of its height, at
any place (a 10 % crop all from one side, 5 % from each side, or anything between, on either axis;
then scaled to any size or shape, 854x480 say). For every pair of scales all offsets are tried at
once by an FFT correlation with the pilot pattern; the best alignments are refined and read cell by
cell, and a payload is accepted only when the pilot's z-score is at least MIN_PILOT_Z and the CRC
holds. Mirroring, rotation and crops of more than 10 % per axis are not searched.

Strength: the field's RMS is TARGET_RMS luma levels: the marked video is 42.8 dB PSNR or more (median 43.0) from the
unmarked one over every frame (the encoder's own loss at CRF 20 is of that size: an unmarked file is
39.9 dB or more, median 41.9, from its frames). Measured by bench/trust.py on 50 generated clips: found with the right
payload after x264 CRF 28 100 %, 854x480 100 %, a 10 % crop 96 %, never a wrong payload; none of 200
unmarked clips taken for marked (highest pilot score 5.2 against MIN_PILOT_Z 6.5). Detection 1-2 s per
clip.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engines.trust.coding import PAYLOAD_BITS, WORD_BITS, Layout, decode, layout, payload_bits

__all__ = ["Detection", "EncodeMark", "Marker", "PAYLOAD_BITS", "detect", "encode_mark", "mark_file", "marking_encodes",
           "mean_luma", "not_marking", "psnr", "read_file"]

# Cells across (and down) the frame, in normalised coordinates.
GRID = 80
# Share of the cells that carry the pilot pattern (the rest carry the payload's bits).
PILOT_SHARE = 0.3
# RMS of the luma change in levels (of 255): PSNR 20*log10(255/1.5) = 44.6 dB before clipping and rounding.
TARGET_RMS = 1.5
# Informed embedding: every cell gets BASE_SHARE of the uniform strength; cells whose picture
# disagrees get more, up to MARGIN (luma levels as the detector sees them) beyond zero, cheapest
# first; ISS_ROUNDS refinements (neighbouring cells' changes overlap once rendered).
BASE_SHARE = 0.6
MARGIN = 1.0
ISS_ROUNDS = 3
# Detector canvas: pixels per cell when the mean luma is resampled to the grid.
CELL_PX = 4
# Slow changes of the picture are removed with a Gaussian blur of this sigma, in cells.
BLUR_CELLS = 1.0
# Crops searched: the visible part is MIN_VISIBLE..1 of the original on each axis, in steps of
# SCALE_STEP (an error of half a step moves the far edge by under a third of a cell).
MIN_VISIBLE = 0.895
SCALE_STEP = 0.0075
# Robust statistics: the filtered picture's values are clipped at +-CLIP luma levels, so a cell of
# edges or texture (the host's own strong variation) weighs no more than a flat one, where the mark
# is clearly seen: the detector counts mostly signs.
CLIP = 0.5
# Best alignments (correlation peaks) read cell by cell per detection; the REFINED best of them whose
# pilot z-score reaches REFINE_Z are refined (a marked video's is about 10 or more before refining).
CANDIDATES = 12
REFINED = 3
REFINE_Z = 4.5
# Detection: pilot z-score (about N(0, 1) at one alignment of an unmarked video; the search tries
# about 10**5 alignments, whose best is 3-5) needed, and the CRC must hold.
MIN_PILOT_Z = 6.5

_CANVAS = GRID * CELL_PX


def _layout(key: bytes) -> Layout:
    """(GRID, GRID) cells."""
    return layout(b"studio-video-watermark-v1", key, (GRID, GRID), PILOT_SHARE)


def _features(canvas: np.ndarray) -> np.ndarray:
    """(GRID, GRID) cell means of a (_CANVAS, _CANVAS) luma canvas with its slow changes removed."""
    import cv2

    x = canvas.astype(np.float32)
    hp = x - cv2.GaussianBlur(x, (0, 0), BLUR_CELLS * CELL_PX, borderType=cv2.BORDER_REFLECT)
    return hp.reshape(GRID, CELL_PX, GRID, CELL_PX).mean(axis=(1, 3))


def _render(cells: np.ndarray, height: int, width: int) -> np.ndarray:
    """The smooth (height, width) float32 field through (GRID, GRID) cell values."""
    import cv2

    return cv2.resize(cells.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)


def _to_canvas(luma: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(np.asarray(luma, np.float32), (_CANVAS, _CANVAS), interpolation=cv2.INTER_AREA)


def _cell_values(payload: int, key: bytes, host: np.ndarray | None) -> np.ndarray:
    """(GRID, GRID) luma change per cell, of sign pilot chip or chip x payload bit, scaled to TARGET_RMS
    once rendered. Knowing the host (informed embedding), the cells whose own picture points the wrong
    way, or not far enough, get what they need to be read right with MARGIN to spare, the cheapest
    first, within the strength budget; the others keep the base strength."""
    layout = _layout(key)
    want = layout.chip * np.where(layout.pilot, 1.0, 2.0 * payload_bits(payload)[np.maximum(layout.bit, 0)] - 1.0)
    base = TARGET_RMS / float(np.sqrt(np.mean(_render(want, _CANVAS, _CANVAS) ** 2)))
    if host is None or not host.size:
        return want * base
    host_f = _features(_to_canvas(host))
    # The detector sees a rendered, filtered cell as about `gain` times its value.
    gain = float(np.sum(_features(_render(want, _CANVAS, _CANVAS)) * want) / np.sum(want ** 2))
    floor = BASE_SHARE * base
    amp = np.full(want.shape, floor)
    for _ in range(ISS_ROUNDS):
        seen = want * (host_f + _features(_render(want * amp, _CANVAS, _CANVAS)))
        need = np.maximum(amp + (MARGIN - seen) / gain, floor).ravel()
        # The cheapest cells first, up to the budget (mean square of the cells' amplitudes); the
        # others keep the floor.
        order = np.argsort(need)
        cost = np.cumsum(need[order] ** 2 - floor ** 2) + need.size * floor ** 2
        take = order[cost <= need.size * base ** 2]
        amp = np.full(need.size, floor)
        amp[take] = need[take]
        amp = amp.reshape(want.shape)
    delta = want * amp
    rms = float(np.sqrt(np.mean(_render(delta, _CANVAS, _CANVAS) ** 2)))
    return delta * (TARGET_RMS / max(rms, 1e-9))


class Marker:
    """The field for one video: `apply(y)` adds it to a frame's Y plane (uint8, height x width).
    `host`: the video's mean luma at any size (None: marked without knowing the picture, weaker on
    still pictures)."""

    def __init__(self, height: int, width: int, payload: int, key: bytes, host: np.ndarray | None = None) -> None:
        payload_bits(payload)  # fits, or ValueError
        self.height, self.width = int(height), int(width)
        self.payload = int(payload)
        self.cells = _cell_values(payload, key, host)
        f = np.rint(_render(self.cells, self.height, self.width))
        # Saturating uint8 adds of the positive and negative parts: cheap per frame.
        self._up = np.clip(f, 0, 255).astype(np.uint8)
        self._down = np.clip(-f, 0, 255).astype(np.uint8)

    def apply(self, y: np.ndarray) -> np.ndarray:
        """A new Y plane: `y` with the mark (`y` is left as it is)."""
        import cv2

        if y.shape != (self.height, self.width) or y.dtype != np.uint8:
            raise ValueError(f"a Y plane of ({self.height}, {self.width}) uint8 is needed, got {y.shape} {y.dtype}")
        return cv2.subtract(cv2.add(y, self._up), self._down)


@dataclass
class EncodeMark:
    """The mark the video encoder (engines.video.encode.VideoWriter) puts in every picture it encodes
    while `marking_encodes` is in force, and the files it marked so (no need to mark them again)."""

    payload: int
    key: bytes
    marked: set[Path] = field(default_factory=set)


_ENCODE_MARK: ContextVar[EncodeMark | None] = ContextVar("video_encode_mark", default=None)


@contextmanager
def marking_encodes(payload: int, key: bytes) -> Iterator[EncodeMark]:
    """Within this block (in this thread or context), every video the encoder writes is marked with
    `payload` as it is encoded: no encoding again afterwards. Videos written elsewhere are not."""
    payload_bits(payload)  # fits, or ValueError
    mark = EncodeMark(int(payload), key)
    token = _ENCODE_MARK.set(mark)
    try:
        yield mark
    finally:
        _ENCODE_MARK.reset(token)


@contextmanager
def not_marking() -> Iterator[None]:
    """Within this block, videos are encoded without the mark: intermediate results kept for later jobs
    (which mark what they make from them with their own generation)."""
    token = _ENCODE_MARK.set(None)
    try:
        yield
    finally:
        _ENCODE_MARK.reset(token)


def encode_mark() -> EncodeMark | None:
    """The mark in force for videos encoded now (see marking_encodes), or None."""
    return _ENCODE_MARK.get()


@dataclass(frozen=True)
class Detection:
    found: bool
    payload: int | None
    # Pilot z-score at the best alignment (about N(0, 1) at any one alignment of an unmarked video).
    confidence: float
    # Where the visible picture sits in the original, as fractions: (left, top, width, height).
    region: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)


def _scales() -> np.ndarray:
    n = int(round((1.0 - MIN_VISIBLE) / SCALE_STEP)) + 1
    return 1.0 - SCALE_STEP * np.arange(n)


def detect(mean_luma: np.ndarray, key: bytes) -> Detection:
    """Look for the watermark in a video's mean luma (the average of its frames' Y planes, or of
    grey frames, at any size; a 256 x 256 average is plenty)."""
    import cv2

    layout = _layout(key)
    img = np.asarray(mean_luma, np.float32)
    if img.ndim != 2 or min(img.shape) < 16 or float(img.std()) == 0.0:
        return Detection(False, None, 0.0)
    pilot_tpl = np.kron(np.where(layout.pilot, layout.chip, 0.0), np.ones((CELL_PX, CELL_PX))).astype(np.float32)
    # FFT size: the canvas (a picture of h rows shifted by at most _CANVAS - h never wraps around).
    size = _CANVAS
    tpl_f = np.fft.rfft2(pilot_tpl, (size, size))
    peaks: list[tuple[float, float, float, int, int]] = []
    for sy in _scales():
        for sx in _scales():
            h, w = int(round(sy * _CANVAS)), int(round(sx * _CANVAS))
            r = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
            r = _clipped(r - cv2.GaussianBlur(r, (0, 0), BLUR_CELLS * CELL_PX, borderType=cv2.BORDER_REFLECT))
            # corr[dy, dx] = sum over the picture of r(y, x) * template(y + dy, x + dx)
            corr = np.fft.irfft2(tpl_f * np.conj(np.fft.rfft2(r, (size, size))), (size, size))
            corr = corr[:_CANVAS - h + 1, :_CANVAS - w + 1]
            dy, dx = divmod(int(np.argmax(corr)), corr.shape[1])
            # Ranked by the peak against the picture's own variation (read properly below).
            peaks.append((float(corr[dy, dx]) / (float(r.std()) + 1e-9), sx, sy, dx, dy))
    peaks.sort(reverse=True)
    reads = sorted((_read(img, layout, sx, sy, dx, dy) for _, sx, sy, dx, dy in peaks[:CANDIDATES]),
                   key=lambda r: -r[0])
    best = reads[0]
    half = SCALE_STEP / 2
    for z0, _, (sx0, sy0, dx0, dy0) in reads[:REFINED]:
        if z0 < REFINE_Z:
            break
        # Refined around the peak: half a scale step and a pixel of the canvas each way.
        for sx in (sx0, sx0 - half, sx0 + half):
            for sy in (sy0, sy0 - half, sy0 + half):
                if max(sx, sy) > 1.0:
                    continue
                for dx in (dx0, dx0 - 1, dx0 + 1):
                    for dy in (dy0, dy0 - 1, dy0 + 1):
                        got = _read(img, layout, sx, sy, dx, dy)
                        if got[0] > best[0]:
                            best = got
    # One decoding, at the best alignment: each decoding of a noisy word risks a wrong CRC-valid
    # word (about 0.1 %), so it is not tried at every alignment.
    z, soft, (sx, sy, dx, dy) = best
    payload = decode(soft) if z >= MIN_PILOT_Z else None
    region = (dx / _CANVAS, dy / _CANVAS, sx, sy)
    return Detection(payload is not None, payload, z, tuple(round(float(t), 4) for t in region))


def _read(img: np.ndarray, layout: Layout, sx: float, sy: float, dx: int, dy: int
          ) -> tuple[float, np.ndarray, tuple[float, float, int, int]]:
    """(pilot z-score, soft bit sums, alignment) with the picture placed at (dx, dy) on the canvas at
    scale (sx, sy)."""
    import cv2

    h, w = int(round(sy * _CANVAS)), int(round(sx * _CANVAS))
    r = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    r = r - cv2.GaussianBlur(r, (0, 0), BLUR_CELLS * CELL_PX, borderType=cv2.BORDER_REFLECT)
    dx, dy = min(max(dx, 0), _CANVAS - w), min(max(dy, 0), _CANVAS - h)
    canvas = np.zeros((_CANVAS, _CANVAS), np.float32)
    seen = np.zeros((_CANVAS, _CANVAS), np.float32)
    canvas[dy:dy + h, dx:dx + w] = r
    seen[dy:dy + h, dx:dx + w] = 1.0
    v = canvas.reshape(GRID, CELL_PX, GRID, CELL_PX).mean(axis=(1, 3))
    cover = seen.reshape(GRID, CELL_PX, GRID, CELL_PX).mean(axis=(1, 3))
    inside = cover >= 0.99  # cells wholly in view
    v = _clipped(v) * layout.chip
    norm = float(np.sqrt(np.mean(v[inside] ** 2))) + 1e-9
    pilot = layout.pilot & inside
    z = float(v[pilot].sum() / (norm * np.sqrt(max(int(pilot.sum()), 1))))
    data = ~layout.pilot & inside
    soft = np.bincount(layout.bit[data], weights=v[data], minlength=WORD_BITS)[:WORD_BITS]
    return z, soft, (sx, sy, dx, dy)


def _clipped(x: np.ndarray) -> np.ndarray:
    return np.clip(x, -CLIP, CLIP)


def psnr(reference: np.ndarray, other: np.ndarray) -> float:
    """PSNR in dB of `other` to `reference` (uint8 pictures of one shape; inf when equal)."""
    a, b = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


# Frames averaged when reading a file (spread evenly over it), and the size they are decoded at.
READ_FRAMES = 150
READ_SIZE = 256


def _ffmpeg() -> list[str]:
    from core.probe import ffmpeg_binary

    return [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin"]


def _stream(path: Path) -> dict:
    """width, height, r_frame_rate, nb_frames, has_b_frames of the first video stream (ffprobe)."""
    import json
    import subprocess

    from core.probe import ffprobe_binary

    r = subprocess.run([ffprobe_binary(), "-v", "error", "-select_streams", "v:0", "-show_entries",
                        "stream=width,height,r_frame_rate,nb_frames,has_b_frames,duration", "-of", "json", str(path)],
                       capture_output=True, text=True, timeout=60)
    streams = json.loads(r.stdout or "{}").get("streams") or [] if r.returncode == 0 else []
    if not streams:
        raise ValueError(f"{path.name!r} has no picture")
    return streams[0]


def mean_luma(path: str | Path, frames: int = READ_FRAMES, keyframes_only: bool = False) -> np.ndarray:
    """The average Y plane of a video at READ_SIZE x READ_SIZE (float32), over about `frames` frames
    spread over it (or its keyframes only: cheap, enough to know the picture)."""
    import subprocess

    path = Path(path)
    info = _stream(path)
    total = int(info.get("nb_frames") or 0) or 0
    step = max(1, total // max(1, frames)) if total else 1
    pre = ["-skip_frame", "nokey"] if keyframes_only else []
    vf = f"select=not(mod(n\\,{step})),scale={READ_SIZE}:{READ_SIZE}:flags=area" if step > 1 and not keyframes_only \
        else f"scale={READ_SIZE}:{READ_SIZE}:flags=area"
    cmd = [*_ffmpeg(), *pre, "-i", str(path), "-map", "0:v:0", "-vf", vf, "-vsync", "0", "-f", "rawvideo",
           "-pix_fmt", "gray", "pipe:1"]
    r = subprocess.run(cmd, capture_output=True, timeout=600)
    n = len(r.stdout) // (READ_SIZE * READ_SIZE)
    if r.returncode != 0 or n == 0:
        raise ValueError(f"cannot decode the picture of {path.name!r}: {r.stderr.decode('utf-8', 'replace')[-300:]}")
    planes = np.frombuffer(r.stdout[:n * READ_SIZE * READ_SIZE], np.uint8).reshape(n, READ_SIZE, READ_SIZE)
    return planes.mean(axis=0, dtype=np.float64).astype(np.float32)


def read_file(path: str | Path, key: bytes) -> Detection:
    """Look for the watermark in a video file's picture."""
    return detect(mean_luma(path), key)


def mark_file(src: str | Path, dst: str | Path, payload: int, key: bytes, audio: str | Path | None = None) -> None:
    """Write `src` with its picture marked to `dst`: H.264 yuv420p at the studio's encoder settings
    (x264 CRF, preset and colour tags of engines.video.encode), the same size and frame rate; the
    audio copied as it is (or taken from the file `audio`, encoded AAC), subtitles, chapters and
    metadata copied, +faststart."""
    import subprocess

    from core.scratch import temp_dir
    from engines.video.encode import AUDIO_BITRATE, COLOUR_TAGS, CRF, PRESET, X264_PROFILES

    src, dst = Path(src), Path(dst)
    info = _stream(src)
    w, h = int(info["width"]), int(info["height"])
    marker = Marker(h, w, payload, key, host=mean_luma(src, keyframes_only=True))
    profile = "still" if int(info.get("has_b_frames") or 0) else "motion"
    decode_cmd = [*_ffmpeg(), "-i", str(src), "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1"]
    encode_cmd = [*_ffmpeg(), "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}",
                  "-framerate", str(info.get("r_frame_rate") or "25"), "-i", "pipe:0", "-i", str(src)]
    if audio is not None:
        encode_cmd += ["-i", str(audio)]
    encode_cmd += ["-map", "0:v:0", "-map", "2:a:0" if audio is not None else "1:a?", "-map", "1:s?",
                   "-map_metadata", "1", "-map_chapters", "1",
                   "-c:v", "libx264", "-preset", PRESET, "-crf", str(CRF), "-x264-params", X264_PROFILES[profile],
                   "-pix_fmt", "yuv420p", *COLOUR_TAGS, "-c:s", "copy"]
    encode_cmd += ["-c:a", "aac", "-b:a", AUDIO_BITRATE] if audio is not None else ["-c:a", "copy"]
    encode_cmd += ["-movflags", "+faststart", str(dst)]
    frame_bytes = w * h * 3 // 2
    with temp_dir(None, dst.parent, "mark-") as logs, open(logs / "decode.log", "w+b") as dec_log, \
            open(logs / "encode.log", "w+b") as enc_log:
        dec = subprocess.Popen(decode_cmd, stdout=subprocess.PIPE, stderr=dec_log, stdin=subprocess.DEVNULL)
        enc = subprocess.Popen(encode_cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=enc_log)
        try:
            buf = bytearray(frame_bytes)
            view = memoryview(buf)
            frame = np.frombuffer(buf, np.uint8)
            y = frame[:w * h].reshape(h, w)
            while True:
                got = 0
                while got < frame_bytes:
                    n = dec.stdout.readinto(view[got:])
                    if not n:
                        break
                    got += n
                if got < frame_bytes:
                    break
                y[:] = marker.apply(y)
                enc.stdin.write(view)
            enc.stdin.close()
            rc_dec, rc_enc = dec.wait(), enc.wait()
        finally:
            for p in (dec, enc):
                if p.poll() is None:
                    p.kill()  # our own children, by their handles
                    p.wait()
            dec.stdout.close()
        if rc_dec != 0 or rc_enc != 0:
            dec_log.seek(0)
            enc_log.seek(0)
            detail = (dec_log.read() + enc_log.read()).decode("utf-8", "replace")[-500:]
            dst.unlink(missing_ok=True)
            raise RuntimeError(f"marking the picture of {src.name!r} failed: {detail}")
