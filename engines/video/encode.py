"""Frames and audio into an MP4: H.264 yuv420p + AAC, faststart, frames streamed to ffmpeg's stdin.

Frames arrive as RGB and are converted to YUV 4:2:0 (BT.601 matrix, studio range, tagged so in the
stream) with OpenCV before they are piped: that is about ten times cheaper than ffmpeg's own conversion
and halves the bytes through the pipe.

With audio, the video gets exactly `frames_for(audio.duration_s, fps)` frames and the audio is padded with
silence (or trimmed by under half a frame) to that frame grid, so both streams end together. Chapters go
in through an ffmpeg metadata file; `write_poster` saves a JPEG still for galleries.
"""

from __future__ import annotations

import logging
import queue
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np

from core.audio import Audio
from core.errors import EngineError
from core.probe import ffmpeg_binary
from core.scratch import private_dir
from engines.video.types import Chapter

log = logging.getLogger(__name__)

# x264 settings: "veryfast" keeps encoding cheap on 2 cores; CRF 20 is visually clean for faces.
PRESET = "veryfast"
CRF = 20
# On top of the preset: diamond motion search, the cheapest sub-pixel refinement and no inter partitions
# smaller than a macroblock. Then one of two profiles by content:
# - "motion" (scenes, music videos, photo slideshows: the whole picture moves every frame) also drops
#   B-frames. Measured on 900 frames of an epic_battle scene at 720p against the preset alone: x264 CPU
#   13.7 s instead of 28.9 s, file size +26 %, SSIM 0.9921 against 0.9926 (B-frames alone: CPU -21..25 %,
#   size +21..40 % on scenes and Ken Burns slideshows).
# - "still" (talking heads, slide decks: a mostly unchanging picture) keeps B-frames: on a 10 s talking
#   head they cost no CPU (0.94 s either way) and take 44 % off the file.
X264_BASE = "me=dia:subme=1:partitions=i8x8,i4x4"
X264_PROFILES = {"motion": X264_BASE + ":bframes=0", "still": X264_BASE}
# How the YUV frames are tagged: BT.601 matrix (what the conversion uses), BT.709/sRGB primaries and
# transfer (what the RGB frames are), studio range. Players then show the colours the frames had.
COLOUR_TAGS = ("-colorspace", "smpte170m", "-color_primaries", "bt709", "-color_trc", "bt709",
               "-color_range", "tv")
AUDIO_BITRATE = "128k"
# AAC sample rates ffmpeg's encoder takes; other rates are resampled to 48 kHz.
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)


def frames_for(duration_s: float, fps: int) -> int:
    """Frames a video of `duration_s` seconds has at `fps`: round(duration * fps), at least one."""
    return max(1, int(round(float(duration_s) * fps)))


def fit_audio_to_frames(audio: Audio, n_frames: int, fps: int) -> Audio:
    """`audio` padded with trailing silence, or trimmed, to exactly n_frames / fps seconds (to the sample)."""
    target = int(round(n_frames * audio.sample_rate / float(fps)))
    samples = audio.samples
    have = len(samples)
    if have == target:
        return audio
    if have > target:
        return Audio(np.ascontiguousarray(samples[:target]), audio.sample_rate)
    pad = np.zeros((target - have,) + samples.shape[1:], dtype=samples.dtype)
    return Audio(np.concatenate([samples, pad]), audio.sample_rate)


def chapters_metadata(chapters: list[Chapter], duration_s: float) -> str:
    """An ffmpeg metadata file (`;FFMETADATA1`) with one [CHAPTER] per chapter, times in milliseconds.

    Each chapter ends where the next starts; the last ends at `duration_s`. Chapters are sorted by start
    and ones starting at or after the end are dropped."""
    end_ms = int(round(duration_s * 1000))
    items = sorted((max(0, int(round(c.start_s * 1000))), c.title) for c in chapters)
    items = [(s, t) for s, t in items if s < end_ms]
    lines = [";FFMETADATA1"]
    for k, (start_ms, title) in enumerate(items):
        stop_ms = items[k + 1][0] if k + 1 < len(items) else end_ms
        lines += ["", "[CHAPTER]", "TIMEBASE=1/1000", f"START={start_ms}", f"END={max(stop_ms, start_ms + 1)}",
                  f"title={_escape_metadata(title)}"]
    return "\n".join(lines) + "\n"


def _escape_metadata(text: str) -> str:
    """ffmetadata escaping: '=', ';', '#', '\\' and newlines take a backslash."""
    out = []
    for ch in str(text).replace("\r", " ").replace("\n", " "):
        out.append("\\" + ch if ch in "=;#\\" else ch)
    return "".join(out)


def write_poster(frame: np.ndarray, path: str | Path, quality: int = 88) -> Path:
    """Save one RGB uint8 frame as a JPEG still (for galleries and the video player's poster)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(frame[:, :, :3]).astype(np.uint8), "RGB").save(
        path, "JPEG", quality=quality, optimize=True)
    return path


def to_yuv(frame: np.ndarray) -> np.ndarray:
    """An RGB uint8 (H, W, 3) frame as the I420 array the writer sends (BT.601 studio range, as tagged):
    a new (H * 3 / 2, W) uint8 array."""
    import cv2

    return cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)


def encode_command(path: Path, width: int, height: int, fps: int, audio_path: Path | None,
                   sample_rate: int | None = None, metadata_path: Path | None = None,
                   preset: str = PRESET, profile: str = "motion") -> list[str]:
    cmd = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
           "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-framerate", str(fps), "-i", "pipe:0"]
    if audio_path is not None:
        cmd += ["-i", str(audio_path)]
    if metadata_path is not None:
        cmd += ["-f", "ffmetadata", "-i", str(metadata_path)]
    cmd += ["-map", "0:v:0"]
    if audio_path is not None:
        cmd += ["-map", "1:a:0"]
    if metadata_path is not None:
        index = 2 if audio_path is not None else 1
        cmd += ["-map_metadata", str(index), "-map_chapters", str(index)]
    cmd += ["-c:v", "libx264", "-preset", preset, "-crf", str(CRF), "-x264-params", X264_PROFILES[profile],
            "-pix_fmt", "yuv420p", *COLOUR_TAGS]
    if audio_path is not None:
        cmd += ["-c:a", "aac", "-b:a", AUDIO_BITRATE]
        if sample_rate not in AAC_RATES:
            cmd += ["-ar", "48000"]
    cmd += ["-movflags", "+faststart", str(path)]
    return cmd


# Frames waiting for ffmpeg, so drawing overlaps with encoding and neither waits on the other's hiccups:
# as many as fit in QUEUE_BYTES, within QUEUE_FRAMES_RANGE (720p: 24 frames, 1080p: 10).
QUEUE_BYTES = 32 << 20
QUEUE_FRAMES_RANGE = (4, 32)
# The pipe to ffmpeg is widened to this (Linux allows unprivileged processes up to
# /proc/sys/fs/pipe-max-size, 1 MiB by default): a frame crosses in a few large writes instead of many
# 64 KiB ones, which costs both processes less CPU.
PIPE_BYTES = 1 << 20


def queue_frames(width: int, height: int) -> int:
    """How many YUV 4:2:0 frames of width x height the writer's queue holds."""
    lo, hi = QUEUE_FRAMES_RANGE
    return int(min(hi, max(lo, QUEUE_BYTES // max(1, width * height * 3 // 2))))


def _widen_pipe(stdin) -> None:
    import fcntl

    op = getattr(fcntl, "F_SETPIPE_SZ", None)
    if op is None:  # not Linux: keep the default pipe
        return
    try:
        fcntl.fcntl(stdin.fileno(), op, PIPE_BYTES)
    except OSError:  # above this system's pipe-max-size: keep the default
        log.debug("could not widen the ffmpeg pipe to %d bytes", PIPE_BYTES)


class VideoWriter:
    """`with VideoWriter(path, w, h, fps, audio) as out: out.write(frame)`; on an exception the
    partial file is removed. Frames are converted into a queue (see queue_frames) and fed to ffmpeg by a thread,
    so the caller draws the next frame while ffmpeg encodes (pipe writes release the GIL).

    With audio the video holds exactly `self.n_frames = frames_for(audio.duration_s, fps)` frames: the
    audio is fitted to that frame grid (silence padded, or under half a frame trimmed); writing more
    frames is an error and, if fewer arrive, the last one is repeated when closing (logged).
    `chapters` become MP4 chapters (ffprobe -show_chapters); `duration_s` bounds the last one.
    Width and height must be even (YUV 4:2:0).

    The encoder's own files (the audio as WAV, the chapters, ffmpeg's log) go in a private folder inside
    `scratch` (the caller's scratch folder, a job's), else beside the output; it is removed on close or
    abort.

    Within engines.trust.video_watermark.marking_encodes (a job's run), every frame's picture gets the
    studio's watermark on its way to ffmpeg (made once for the first frame's picture: about 0.1 s, then
    under 0.1 ms a 720p frame)."""

    def __init__(self, path: Path, width: int, height: int, fps: int, audio: Audio | None,
                 chapters: list[Chapter] | None = None, preset: str = PRESET, profile: str = "motion",
                 scratch: Path | None = None) -> None:
        if profile not in X264_PROFILES:
            raise ValueError(f"encoder profile {profile!r} is not one of {', '.join(X264_PROFILES)}")
        self.path = Path(path)
        # "motion" or "still": see X264_PROFILES.
        self.profile = profile
        # x264 speed preset: faster presets trade file size for encoding time.
        self.preset = preset
        if width % 2 or height % 2 or width < 2 or height < 2:
            raise ValueError(f"video frames need even width and height (YUV 4:2:0), got {width}x{height}")
        self.width, self.height, self.fps = width, height, fps
        # Frames the video must have (None without audio: as many as are written).
        self.n_frames: int | None = None
        if audio is not None:
            self.n_frames = frames_for(audio.duration_s, fps)
            audio = fit_audio_to_frames(audio, self.n_frames, fps)
        self.audio = audio
        self.chapters = list(chapters or [])
        if self.chapters and self.n_frames is None:
            raise ValueError("chapters need the video length: give the audio")
        self.frames = 0
        self._last: np.ndarray | None = None
        # Where the encoder's files go (see the class docstring); the folder is made on __enter__.
        self.scratch = Path(scratch) if scratch is not None else None
        self._tmp: Path | None = None
        self._proc: subprocess.Popen | None = None
        self._stderr = None
        self._queue: queue.Queue = queue.Queue(maxsize=queue_frames(width, height))
        self._feeder: threading.Thread | None = None
        self._feed_error: BaseException | None = None
        # I420 frames handed out by yuv_buffer, back here once ffmpeg has them (ids of the pool's arrays).
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        self._pooled: set[int] = set()
        # The studio's picture watermark, when encodes are marked now (engines.trust.video_watermark):
        # made for the first frame's picture, added to every frame's Y plane on its way to ffmpeg (the
        # caller's arrays are left as they are).
        from engines.trust.video_watermark import encode_mark

        self._mark = encode_mark()
        self._marker = None

    @property
    def duration_s(self) -> float | None:
        """Length of the finished video in seconds when it is known up front (with audio)."""
        return None if self.n_frames is None else self.n_frames / float(self.fps)

    def __enter__(self) -> VideoWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = private_dir(self.scratch if self.scratch is not None else self.path.parent, "video-encode-")
        try:
            self._start()
        except BaseException:
            self.abort()
            raise
        return self

    def _start(self) -> None:
        audio_path = None
        rate = None
        if self.audio is not None:
            audio_path = self._tmp / "audio.wav"
            self.audio.write(audio_path, subtype="PCM_16")
            rate = self.audio.sample_rate
        meta_path = None
        if self.chapters:
            meta_path = self._tmp / "chapters.txt"
            meta_path.write_text(chapters_metadata(self.chapters, self.duration_s), encoding="utf-8")
        cmd = encode_command(self.path, self.width, self.height, self.fps, audio_path, rate, meta_path, self.preset,
                             self.profile)
        self._stderr = open(self._tmp / "ffmpeg.log", "w+b")  # noqa: SIM115 (closed in _cleanup)
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr)
        _widen_pipe(self._proc.stdin)
        self._feeder = threading.Thread(target=self._feed, name="video-ffmpeg-feed", daemon=True)
        self._feeder.start()

    def _feed(self) -> None:
        stdin = self._proc.stdin
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            if self._feed_error is not None:
                continue  # drain: the writer side sees the error on its next call
            try:
                if self._marker is not None:
                    stdin.write(memoryview(self._marker.apply(frame[:self.height])).cast("B"))
                    stdin.write(memoryview(frame[self.height:]).cast("B"))
                else:
                    stdin.write(memoryview(frame).cast("B"))
                if id(frame) in self._pooled:
                    self._free.put(frame)
            except (BrokenPipeError, OSError, ValueError) as e:
                self._feed_error = e

    def write(self, frame: np.ndarray) -> None:
        """Queue one RGB uint8 frame, converted to YUV 4:2:0 (a new array, so the caller may reuse its
        buffer)."""
        assert self._proc is not None
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be ({self.height}, {self.width}, 3) uint8, got {frame.shape} {frame.dtype}")
        self._put(to_yuv(frame))

    def yuv_buffer(self) -> np.ndarray:
        """An I420 array (height * 3 / 2, width) uint8 to draw the next frame into and give to write_yuv;
        arrays come back once ffmpeg has read them, so frames are drawn into memory already in use
        (a fresh 1.4 MB array per 720p frame costs its page faults every time). Contents are stale."""
        while True:
            try:
                buf = self._free.get_nowait()
            except queue.Empty:
                buf = np.empty((self.height * 3 // 2, self.width), np.uint8)
                self._pooled.add(id(buf))
                return buf
            if buf is not self._last:  # kept to repeat should frames be missing at the end
                return buf

    def write_yuv(self, frame: np.ndarray) -> None:
        """Queue one frame that is already YUV 4:2:0 (I420: the Y plane, then U, then V, as a
        (height * 3 / 2, width) uint8 array, BT.601 studio range). The array must not change afterwards."""
        assert self._proc is not None
        if frame.shape != (self.height * 3 // 2, self.width) or frame.dtype != np.uint8:
            raise ValueError(f"an I420 frame must be ({self.height * 3 // 2}, {self.width}) uint8, "
                             f"got {frame.shape} {frame.dtype}")
        self._put(frame)

    def _put(self, yuv: np.ndarray) -> None:
        if self.n_frames is not None and self.frames >= self.n_frames:
            raise ValueError(f"the video already has its {self.n_frames} frames (the audio's length at {self.fps} fps)")
        if self._feed_error is not None:
            self._fail("ffmpeg stopped while receiving frames")
        if self._mark is not None and self._marker is None:
            from engines.trust.video_watermark import Marker

            self._marker = Marker(self.height, self.width, self._mark.payload, self._mark.key, host=yuv[:self.height])
        self._last = yuv
        self._queue.put(yuv)
        self.frames += 1

    def _stop_feeder(self) -> None:
        if self._feeder is not None:
            self._queue.put(None)
            self._feeder.join()
            self._feeder = None

    def _log(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-2000:]

    def _fail(self, what: str) -> None:
        detail = self._log()
        self.abort()
        raise EngineError(f"video encoding failed: {what}. {detail}".strip())

    def close(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if self.n_frames is not None and self._last is not None and self.frames < self.n_frames:
            log.warning("%d of %d frames written: repeating the last one", self.frames, self.n_frames)
            while self.frames < self.n_frames and self._feed_error is None:
                self._queue.put(self._last)
                self.frames += 1
        self._stop_feeder()
        if proc.stdin:
            try:
                proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
        rc = proc.wait()
        if rc != 0 or self._feed_error is not None:
            self._fail(f"ffmpeg exited with code {rc}")
        if self._marker is not None:
            self._mark.marked.add(self.path.resolve())
        self._cleanup()

    def abort(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()  # our own child, by its handle
            proc.wait()
        self._stop_feeder()
        if proc is not None and proc.stdin:
            try:
                proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
        self._cleanup()
        self.path.unlink(missing_ok=True)

    def _cleanup(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._proc = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()


def encode_aac(audio: Audio, out: Path, n_frames: int, fps: int, scratch: Path | None = None) -> Path:
    """`audio` fitted to `n_frames` at `fps` (fit_audio_to_frames) and encoded AAC (as the writer encodes a
    video's sound) into the MP4 audio file `out`, for join_segments(sound=out) to copy: a caller can encode the
    sound while it draws the picture. A stereo sound whose two channels are the same (a voice) is encoded mono:
    it sounds the same and costs half."""
    audio = fit_audio_to_frames(audio, n_frames, fps)
    if audio.channels == 2 and np.array_equal(audio.samples[:, 0], audio.samples[:, 1]):
        audio = audio.mono()
    out = Path(out)
    tmp = private_dir(scratch if scratch is not None else out.parent, "audio-encode-")
    try:
        audio.write(tmp / "audio.wav", subtype="PCM_16")
        cmd = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(tmp / "audio.wav"),
               "-c:a", "aac", "-b:a", AUDIO_BITRATE]
        if audio.sample_rate not in AAC_RATES:
            cmd += ["-ar", "48000"]
        _run_ffmpeg([*cmd, "-f", "mp4", str(out)], out, "encoding the sound")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def join_segments(segments: list[Path], out: Path, fps: int, audio: Audio | None = None,
                  chapters: list[Chapter] | None = None, scratch: Path | None = None,
                  frames: int | None = None, sound: Path | None = None) -> int | None:
    """The picture-only segments (written by VideoWriter at the same size, frame rate and profile) one after
    another in `out`, without encoding the picture again, with `audio` (AAC; fitted to the frames) or `sound`
    (an AAC file made by encode_aac for these frames, copied) and `chapters`; +faststart. `frames`: how many
    the segments hold together, when known (else counted, if the audio or chapters need it). Returns the
    frames the video has (None when not needed nor given)."""
    if not segments:
        raise ValueError("no segments to join")
    if audio is not None and sound is not None:
        raise ValueError("give the sound as audio to encode or as an encoded file, not both")
    if frames is None and (audio is not None or chapters):
        frames = sum(_count_frames(seg) for seg in segments)
    out = Path(out)
    tmp = private_dir(scratch if scratch is not None else out.parent, "video-join-")
    try:
        listing = tmp / "segments.txt"
        listing.write_text("".join("file '" + str(Path(s).resolve()).replace("'", "'\\''") + "'\n"
                                   for s in segments), encoding="utf-8")
        cmd = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "concat", "-safe", "0",
               "-i", str(listing)]
        maps = ["-map", "0:v:0"]
        if audio is not None:
            sound = encode_aac(audio, tmp / "sound.m4a", frames, fps, scratch=tmp)
        if sound is not None:
            cmd += ["-i", str(sound)]
            maps += ["-map", "1:a:0"]
        if chapters:
            (tmp / "chapters.txt").write_text(chapters_metadata(chapters, frames / fps), encoding="utf-8")
            cmd += ["-f", "ffmetadata", "-i", str(tmp / "chapters.txt")]
            index = str(2 if sound is not None else 1)
            maps += ["-map_metadata", index, "-map_chapters", index]
        cmd += [*maps, "-c:v", "copy"]
        if sound is not None:
            cmd += ["-c:a", "copy"]
        cmd += ["-movflags", "+faststart", str(out)]
        _run_ffmpeg(cmd, out, "joining the video's segments")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return frames


def _run_ffmpeg(cmd: list[str], out: Path, what: str) -> None:
    """Run an ffmpeg command writing `out`; on failure `out` is removed and EngineError says `what` failed."""
    r = subprocess.run(cmd, capture_output=True, timeout=600)
    if r.returncode != 0:
        out.unlink(missing_ok=True)
        raise EngineError(f"{what} failed: {r.stderr.decode('utf-8', 'replace')[-500:]}")


def _count_frames(path: Path) -> int:
    """The frames (packets) of a video file's picture."""
    import json

    from core.probe import ffprobe_binary

    r = subprocess.run([ffprobe_binary(), "-v", "error", "-select_streams", "v:0", "-count_packets",
                        "-show_entries", "stream=nb_read_packets", "-of", "json", str(path)],
                       capture_output=True, text=True, timeout=120)
    streams = json.loads(r.stdout or "{}").get("streams") or [] if r.returncode == 0 else []
    if not streams:
        raise EngineError(f"video segment {Path(path).name!r} has no picture: {r.stderr[-300:]}")
    return int(streams[0]["nb_read_packets"])
