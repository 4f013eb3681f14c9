"""The studio's marks on what it makes: the audio watermark of every generated sound, the picture
watermark of every generated video, and reading them back (/verify_media).

The payload is STUDIO_ID (8 bits) and the generation's id (24 bits; ids beyond 16.7 million wrap);
the key is WATERMARK_KEY, or one made at random on first start and kept in DATA_DIR/keys (only this
studio can find or forge its marks with it).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.audio import Audio
from settings import Settings

log = logging.getLogger(__name__)

KEY_FILE = "watermark.key"
GENERATION_BITS = 24


def studio_key(settings: Settings) -> bytes:
    """WATERMARK_KEY, else the key kept in DATA_DIR/keys (made on first use, readable by its owner only)."""
    if settings.watermark_key:
        return settings.watermark_key.encode("utf-8")
    path = settings.data_dir / "keys" / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        log.warning("made a new watermark key in %s: keep it (with it, and only with it, this studio's "
                    "marks are found)", path)
    return path.read_text().strip().encode("utf-8")


@dataclass(frozen=True)
class Found:
    """What the watermark of a file says: made here (by this studio's key and id) and by which
    generation; `confidence` is the pilot score (about 0-4 on audio without the mark, 6 is needed)."""

    marked: bool
    studio_id: int | None
    generation_id: int | None
    confidence: float


class Marks:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._key: bytes | None = None

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = studio_key(self.settings)
        return self._key

    def payload(self, generation_id: int) -> int:
        return (self.settings.studio_id & 0xFF) << GENERATION_BITS | (int(generation_id) % 2 ** GENERATION_BITS)

    def audio(self, audio: Audio, generation_id: int) -> Audio:
        """`audio` carrying this studio's mark for the generation."""
        from engines.trust import watermark

        return watermark.embed(audio, self.payload(generation_id), self.key)

    def read(self, audio: Audio) -> Found:
        from engines.trust import watermark

        got = watermark.detect(audio, self.key)
        if not got.found or got.payload is None:
            return Found(False, None, None, got.confidence)
        return Found(True, got.payload >> GENERATION_BITS, got.payload % 2 ** GENERATION_BITS, got.confidence)

    def read_video(self, path: Path) -> Found | None:
        """What the picture's watermark of a video file says; None when the file has no picture."""
        from core.probe import probe_media
        from engines.trust import video_watermark

        try:
            if not probe_media(path).get("video_codec"):
                return None
            got = video_watermark.read_file(path, self.key)
        except Exception:  # not a video ffmpeg reads: no picture
            return None
        if not got.found or got.payload is None:
            return Found(False, None, None, got.confidence)
        return Found(True, got.payload >> GENERATION_BITS, got.payload % 2 ** GENERATION_BITS, got.confidence)


# Files marked at once.
THREADS = 2
# Bit rate of a marked MP3 when its own cannot be read, kbit/s.
MP3_KBPS = 192


def _keep_peak(original: Audio, marked: Audio) -> Audio:
    """The marked audio no louder at its peak than the original (a master's ceiling holds)."""
    import numpy as np

    before = float(np.max(np.abs(original.samples))) if original.samples.size else 0.0
    after = float(np.max(np.abs(marked.samples))) if marked.samples.size else 0.0
    if after > before > 0:
        return Audio((marked.samples * np.float32(before / after)).astype(np.float32), marked.sample_rate)
    return marked


class OutputMarks(Marks):
    """Marks every sound and picture a job made before it is stored: WAV and FLAC in place, MP3 encoded
    again at its bit rate, an MP4's picture (encoded again) and audio track."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        # Per running job: the videos whose picture was marked as it was encoded (see `encoding`).
        self._encoded: dict[int, set[Path]] = {}

    def __call__(self, generation_id: int, outputs: list) -> None:
        """Mark a job's files, two at a time (a song's stems are many)."""
        from concurrent.futures import ThreadPoolExecutor

        from storage.models import MediaKind

        def mark(out) -> None:
            ext = out.path.suffix.lower()
            if out.kind is MediaKind.audio and ext in (".wav", ".flac"):
                self.file(out.path, generation_id)
            elif out.kind is MediaKind.audio and ext == ".mp3":
                self.mp3(out.path, generation_id)
            elif out.kind is MediaKind.video and ext == ".mp4":
                self.video(out.path, generation_id)
            else:
                return
            out.meta["watermark"] = {"studio_id": self.settings.studio_id, "generation_id": int(generation_id)}

        _ = self.key  # made once, before the threads
        try:
            with ThreadPoolExecutor(THREADS) as pool:
                list(pool.map(mark, outputs))
        finally:
            self._encoded.pop(int(generation_id), None)

    @contextmanager
    def encoding(self, generation_id: int) -> Iterator[None]:
        """While a job runs: the videos it encodes get the picture mark as they are encoded (see
        engines.trust.video_watermark.marking_encodes), so `video` need not encode them again."""
        from engines.trust.video_watermark import marking_encodes

        with marking_encodes(self.payload(generation_id), self.key) as mark:
            self._encoded[int(generation_id)] = mark.marked
            try:
                yield
            except BaseException:
                self._encoded.pop(int(generation_id), None)
                raise

    def file(self, path: Path, generation_id: int) -> None:
        import soundfile as sf

        info = sf.info(str(path))
        original = Audio.read(path)
        _keep_peak(original, self.audio(original, generation_id)).write(path, subtype=info.subtype)

    def mp3(self, path: Path, generation_id: int) -> None:
        from core.audio import encode_mp3
        from core.probe import probe_media

        kbps = MP3_KBPS
        try:
            rate = probe_media(path).get("bit_rate")
            if rate:
                kbps = max(32, min(320, int(round(float(rate) / 1000))))
        except Exception:  # the default bit rate is fine
            pass
        wav = path.with_name(path.stem + ".marking.wav")
        try:
            self.file_from(path, wav, generation_id)
            encode_mp3(wav, path, kbps)
        finally:
            wav.unlink(missing_ok=True)

    def file_from(self, src: Path, wav: Path, generation_id: int) -> None:
        original = Audio.read(src)
        _keep_peak(original, self.audio(original, generation_id)).write(wav, subtype="PCM_16")

    def video(self, path: Path, generation_id: int) -> None:
        """Mark the picture and the first audio track of an MP4; subtitles, chapters and metadata are
        copied as they are. A picture marked as it was encoded during the job (see `encoding`) is copied
        too; any other is decoded, marked and encoded again at the studio's settings."""
        import subprocess

        from core.probe import ffmpeg_binary, probe_media
        from engines.trust import video_watermark
        from engines.video.encode import AUDIO_BITRATE

        info = probe_media(path)
        has_audio, has_picture = bool(info.get("audio_codec")), bool(info.get("video_codec"))
        if path.resolve() in self._encoded.get(int(generation_id), set()):
            has_picture = False  # marked as it was encoded: the picture is copied
        if not has_audio and not has_picture:
            return
        raw, marked, out = (path.with_name(path.stem + s) for s in (".audio.wav", ".marked.wav", ".marked.mp4"))
        ff = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
        try:
            if has_audio:
                subprocess.run([*ff, "-i", str(path), "-map", "0:a:0", "-vn", "-c:a", "pcm_s16le", str(raw)],
                               check=True, capture_output=True, timeout=600)
                self.file_from(raw, marked, generation_id)
            if has_picture:
                video_watermark.mark_file(path, out, self.payload(generation_id), self.key,
                                          audio=marked if has_audio else None)
            else:
                subprocess.run([*ff, "-i", str(path), "-i", str(marked), "-map", "0", "-map", "-0:a", "-map", "1:a:0",
                                "-c", "copy", "-c:a", "aac", "-b:a", AUDIO_BITRATE, "-movflags", "+faststart",
                                str(out)], check=True, capture_output=True, timeout=600)
            out.replace(path)
        finally:
            for p in (raw, marked, out):
                p.unlink(missing_ok=True)


def _with_picture(out: dict, audio: Found, picture: Found | None) -> Found:
    """The picture's reading under "video_watermark" in `out`; the mark that counts: the audio's when
    it names this studio's generation, else the picture's when it was found."""
    from engines.trust.video_watermark import MIN_PILOT_Z

    if picture is None:
        return audio
    out["video_watermark"] = {"marked": picture.marked, "studio_id": picture.studio_id,
                              "generation_id": picture.generation_id, "confidence": round(picture.confidence, 2),
                              "threshold": MIN_PILOT_Z}
    if audio.marked or not picture.marked:
        return audio
    out.update(confidence=round(picture.confidence, 2), threshold=MIN_PILOT_Z, method="video watermark")
    return picture


def verify_media(path: Path, name: str, marks: Marks, library, accounts, actor) -> dict:
    """What the file's watermark says (/verify_media): made here or not, by which generation and when,
    the model and its licence, with the detector's confidence; who made it only to that user or an
    admin. Audio files, and the audio track and the picture of videos, are read."""
    import shutil
    import subprocess

    from core.errors import InputError
    from core.probe import ffmpeg_binary
    from storage.library import NotFound
    from storage.models import Generation, User

    picture = marks.read_video(path)
    try:
        audio = Audio.read(path)
    except Exception:
        work = library.store.new_scratch_dir("verify-")
        try:
            wav = work / "audio.wav"
            r = subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                                "-i", str(path), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", "16000", str(wav)],
                               capture_output=True, timeout=600)
            if (r.returncode != 0 or not wav.exists()) and picture is None:
                raise InputError(f"'{name}' holds no audio this studio can read; give an audio file or a video with "
                                 "sound") from None
            audio = Audio.read(wav) if wav.exists() else None
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if audio is not None and audio.duration_s < 5.0 and picture is None:
        raise InputError(f"'{name}' lasts {audio.duration_s:.1f} s; the watermark needs at least 5 s (10 s to be sure)")
    found = marks.read(audio) if audio is not None and audio.duration_s >= 5.0 else Found(False, None, None, 0.0)
    out = {"file": name, "made_here": False, "confidence": round(found.confidence, 2),
           "threshold": 6.0, "method": "audio watermark"}
    found = _with_picture(out, found, picture)
    if not found.marked or found.studio_id != marks.settings.studio_id:
        out["verdict"] = ("not made here: no watermark of this studio was found" if not found.marked else
                          f"a watermark of another studio (id {found.studio_id}) with this studio's key")
        return out
    out.update(made_here=True, generation_id=found.generation_id)
    with library.session() as s:
        g = s.get(Generation, found.generation_id)
        owner = s.get(User, g.owner_id) if g is not None and g.owner_id is not None else None
    if g is None:
        out["verdict"] = f"made here, by generation {found.generation_id}, which has since been deleted"
        return out
    out.update(kind=g.kind, made_at=g.created_at.isoformat(timespec="seconds"), model=g.model,
               model_licence=g.model_licence)
    try:
        library.get_generation(g.id, actor=actor)
        mine = True
    except NotFound:
        mine = False
    is_admin = bool(actor.user_id) and accounts is not None and any(
        u.id == actor.user_id and u.is_admin for u in accounts.list_users())
    if mine or is_admin:
        out["made_by"] = owner.username if owner is not None else ""
    out["verdict"] = f"made here: {g.kind} generation {g.id} of {out['made_at']}"
    return out
