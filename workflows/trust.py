"""The studio's marks on what it makes: the audio watermark of every generated sound, the picture
watermark of every generated video, Content Credentials (a signed C2PA manifest) in every media file and
in a sidecar `<name>.c2pa` beside every text or data file (lyrics, LRC, subtitles, JSON, MIDI), and
reading them back (/verify_media).

The watermark's payload is STUDIO_ID (8 bits) and the generation's id (24 bits; ids beyond 16.7
million wrap); its key is WATERMARK_KEY, or one made at random on first start and kept in
DATA_DIR/keys (only this studio can find or forge its marks with it). The manifest is signed with
C2PA_CERT / C2PA_KEY (PEM files: the certificate chain, signing certificate first, and its private
key), or with a self-signed test chain made on first start in DATA_DIR/keys/c2pa and named as such
in every manifest. A manifest is lost when a file is re-encoded; the watermark is the fallback.
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
# Who signs the manifests (C2PA claim generator).
STUDIO_NAME = "Digital Clone Studio"
STUDIO_VERSION = "2026.12"


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


def signing_identity(settings: Settings):
    """C2PA_CERT and C2PA_KEY, else the test chain in DATA_DIR/keys/c2pa (made on first use)."""
    from engines.trust import credentials

    if settings.c2pa_cert and settings.c2pa_key:
        return credentials.load_identity(Path(settings.c2pa_cert), Path(settings.c2pa_key))
    folder = settings.data_dir / "keys" / "c2pa"
    if (folder / "chain.pem").exists() and (folder / "key.pem").exists():
        return credentials.load_identity(folder / "chain.pem", folder / "key.pem")
    log.warning("made a self-signed C2PA test chain in %s: manifests say they are signed with a test chain; "
                "set C2PA_CERT and C2PA_KEY to sign with a certificate others trust", folder)
    return credentials.make_test_chain(folder)


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
        self._identity = None

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = studio_key(self.settings)
        return self._key

    @property
    def identity(self):
        """The C2PA signing identity (engines.trust.credentials.Identity)."""
        if self._identity is None:
            self._identity = signing_identity(self.settings)
        return self._identity

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
    """Marks every sound and picture a job made before it is stored (WAV and FLAC in place, MP3 encoded
    again at its bit rate, an MP4's audio track and its picture, marked as it was encoded or else encoded
    again), then signs every media file with Content Credentials: made by this studio, AI-generated,
    the engine, model and licence, the inputs and their hashes, the watermark as a soft binding."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        # Per running job: the videos whose picture was marked as it was encoded (see `encoding`).
        self._encoded: dict[int, set[Path]] = {}

    def __call__(self, made) -> None:
        """Mark and sign a job's files (storage.jobs.Made), two at a time (a song's stems are many)."""
        from concurrent.futures import ThreadPoolExecutor

        from engines.trust import credentials
        from storage.jobs import PREMARKED
        from storage.models import MediaKind

        generation_id = made.generation_id
        ingredients = tuple(credentials.Ingredient(i.name, i.mime, i.sha256, i.path) for i in made.inputs)
        sidecars: dict[int, object] = {}  # output's index -> its sidecar's JobOutput

        def mark(item) -> None:
            index, out = item
            ext = out.path.suffix.lower()
            if out.meta.pop(PREMARKED, False):  # marked by the job itself (JobContext.mark) before it was written
                pass
            elif out.kind is MediaKind.audio and ext in (".wav", ".flac"):
                self.file(out.path, generation_id)
            elif out.kind is MediaKind.audio and ext == ".mp3":
                self.mp3(out.path, generation_id)
            elif out.kind is MediaKind.video and ext == ".mp4":
                self.video(out.path, generation_id)
            if out.kind in (MediaKind.audio, MediaKind.video) and ext in (".wav", ".flac", ".mp3", ".mp4"):
                out.meta["watermark"] = {"studio_id": self.settings.studio_id, "generation_id": int(generation_id)}
                # A video whose picture was reused from an earlier version of it (workflows.clone) carries that
                # version's picture mark.
                picture = out.meta.pop("picture_generation_id", None)
                if picture is not None and int(picture) != int(generation_id):
                    out.meta["watermark"]["picture_generation_id"] = int(picture)
            if credentials.can_hold(out.path):
                self.sign(out, made, ingredients)
            elif credentials.takes_sidecar(out.path):
                sidecars[index] = self.sign_sidecar(out, made, ingredients)

        _ = self.key, self.identity  # made once, before the threads
        try:
            with ThreadPoolExecutor(THREADS) as pool:
                list(pool.map(mark, list(enumerate(made.outputs))))
        finally:
            self._encoded.pop(int(generation_id), None)
        # Each sidecar is an output of its own, after all the others (in their order): a tab or endpoint that
        # takes "the text output" still finds the text.
        made.outputs.extend(sidecars[i] for i in sorted(sidecars))

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

    def _claim(self, out, made, ingredients: tuple, content_sha256: str = ""):
        from core.licences import commercial_use, split
        from engines.trust import credentials

        result = made.result
        return credentials.Claim(
            title=out.name, generation_id=int(made.generation_id), kind=made.kind, engine=result.backend,
            model=result.model, model_licence=result.model_licence,
            commercial_use=commercial_use(split(result.model_licence)).commercial_use, studio=STUDIO_NAME,
            studio_version=STUDIO_VERSION, created_at=made.created_at, ingredients=ingredients,
            watermark=out.meta.get("watermark"), test_chain=self.identity.test_chain, content_sha256=content_sha256)

    def sign(self, out, made, ingredients: tuple) -> None:
        from engines.trust import credentials

        credentials.sign(out.path, self._claim(out, made, ingredients), self.identity)
        out.meta["content_credentials"] = {"test_chain": self.identity.test_chain}

    def sign_sidecar(self, out, made, ingredients: tuple):
        """Content Credentials for a text or data file (lyrics, LRC, subtitles, JSON, MIDI), which has no place
        for them: a sidecar `<name>.c2pa`, returned as an output of its own (meta role "content-credentials",
        "for": the file's name) to be stored beside it."""
        from engines.trust import credentials
        from storage.jobs import JobOutput
        from storage.media import sha256_file
        from storage.models import MediaKind

        path = credentials.sign_sidecar(out.path, self._claim(out, made, ingredients, sha256_file(out.path)),
                                        self.identity)
        sidecar = out.name + credentials.SIDECAR_EXT
        out.meta["content_credentials"] = {"test_chain": self.identity.test_chain, "sidecar": sidecar}
        return JobOutput(path, MediaKind.other, sidecar, meta={"role": "content-credentials", "for": out.name})

    def mark_audio(self, audio: Audio, generation_id: int) -> Audio:
        """`audio` marked for the generation, no louder at its peak (JobContext.mark)."""
        return _keep_peak(audio, self.audio(audio, generation_id))

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


def _audio_of(path: Path, library) -> Audio | None:
    """The file's sound (the first audio track of a video), or None when it has none."""
    import shutil
    import subprocess

    from core.probe import ffmpeg_binary

    try:
        return Audio.read(path)
    except Exception:
        pass
    work = library.store.new_scratch_dir("verify-")
    try:
        wav = work / "audio.wav"
        r = subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                            "-i", str(path), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", "16000", str(wav)],
                           capture_output=True, timeout=600)
        if r.returncode != 0 or not wav.exists():
            return None
        return Audio.read(wav)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _credentials_of(path: Path, marks: Marks, sidecar: Path | None = None) -> dict | None:
    """What the file's Content Credentials say (from `sidecar` when given, or `path` may be a sidecar
    alone), checked against this studio's signing chain; None when it carries none."""
    from engines.trust import credentials

    try:
        reading = credentials.read(path, marks.identity.root_pem, sidecar=sidecar)
    except credentials.CredentialsError as e:
        return {"present": True, "intact": False, "problem": str(e)}
    if not reading.present:
        return None
    out = {"present": True, "intact": reading.intact, "state": reading.state, "signer": reading.signer,
           "by_this_studio": reading.state == "Trusted" and bool(reading.studio)}
    if reading.content:  # a sidecar: is the file still what was signed?
        out.update(sidecar=True, content=reading.content, signature_state=reading.signature_state,
                   signature_by_this_studio=reading.signature_state == "Trusted" and bool(reading.studio))
        if reading.studio.get("content_sha256"):
            out["content_sha256"] = reading.studio["content_sha256"]
        if reading.title:
            out["for_file"] = reading.title
    if reading.failures:
        out["failures"] = list(reading.failures)
    if reading.studio:
        out["generation_id"] = reading.studio.get("generation_id")
        out["signed_with_test_chain"] = bool(reading.studio.get("signed_with_test_chain"))
    sources = [a.get("digitalSourceType", "") for a in reading.actions if a.get("action") == "c2pa.created"]
    if sources:
        out["ai_generated"] = any(x.endswith("/trainedAlgorithmicMedia") for x in sources)
    return out


def verify_media(path: Path, name: str, marks: Marks, library, accounts, actor, sidecar: Path | None = None,
                 sidecar_name: str = "") -> dict:
    """What the file's Content Credentials and watermark say (/verify_media): made here or not, by which
    generation and when, the model and its licence, with a confidence; who made it only to that user
    or an admin. The manifest is read from any media file; the watermark from audio files, the audio
    track of videos (at least 5 s) and the picture of videos. A text or data file (lyrics, LRC,
    subtitles, JSON, MIDI) is checked with its sidecar manifest (`sidecar`, the `<name>.c2pa` stored
    beside it): the generation, and whether the file is still what was signed; a sidecar alone (as
    `path`) names the generation but cannot vouch for a file it was not given."""
    from core.errors import InputError
    from engines.trust import credentials
    from storage.library import NotFound
    from storage.models import Generation, User

    if sidecar is not None and credentials.is_sidecar(path) and not credentials.is_sidecar(sidecar):
        path, name, sidecar, sidecar_name = sidecar, sidecar_name, path, name  # given the other way round
    if sidecar is not None and not credentials.is_sidecar(sidecar):
        raise InputError(f"'{sidecar_name or sidecar.name}' is not a Content Credentials sidecar: give the .c2pa "
                         "file stored beside the text or data file it is for")
    alone = sidecar is None and credentials.is_sidecar(path)
    textual = alone or sidecar is not None or credentials.takes_sidecar(Path(name))
    manifest = _credentials_of(path, marks, sidecar)
    if textual and manifest is None:
        if sidecar is None:
            raise InputError(f"'{name}' is a text or data file: its Content Credentials are in a sidecar, "
                             f"'{name}{credentials.SIDECAR_EXT}', stored beside it when it was made; give that "
                             "too (or alone)")
        raise InputError(f"'{sidecar_name or sidecar.name}' holds no Content Credentials")
    # Text has no sound or picture to carry a watermark.
    audio = None if textual else _audio_of(path, library)
    picture = None if textual else marks.read_video(path)
    found, short = None, False
    if audio is not None:
        if audio.duration_s >= 5.0:
            found = marks.read(audio)
        else:
            short = True
    if manifest is None and found is None and picture is None:
        if short:
            raise InputError(f"'{name}' lasts {audio.duration_s:.1f} s and carries no Content Credentials; the "
                             "watermark needs at least 5 s (10 s to be sure)")
        if audio is None:
            raise InputError(f"'{name}' carries no Content Credentials and no audio to read a watermark from; give "
                             "a file made here (audio, video, image or deck) or audio or video with sound")
    out: dict = {"file": name, "made_here": False, "threshold": 6.0}
    if found is not None:
        out["watermark"] = {"found": found.marked, "confidence": round(found.confidence, 2)}
        out["confidence"] = round(found.confidence, 2)
    if manifest is not None:
        out["content_credentials"] = manifest
    if picture is not None:
        from engines.trust.video_watermark import MIN_PILOT_Z

        out["video_watermark"] = {"found": picture.marked, "confidence": round(picture.confidence, 2),
                                  "threshold": MIN_PILOT_Z, "generation_id": picture.generation_id}
    if manifest is not None and manifest.get("content") == "changed" and manifest.get("signature_by_this_studio"):
        generation_id = manifest.get("generation_id")
        out.update(method="Content Credentials (sidecar)", changed_generation_id=generation_id,
                   verdict=f"changed after it was made here: the sidecar is this studio's, for generation "
                           f"{generation_id}, but '{name}' is no longer the file it signed (its hash differs)")
        return out
    by_manifest = manifest is not None and manifest.get("by_this_studio") and manifest.get("intact")
    by_mark = found is not None and found.marked and found.studio_id == marks.settings.studio_id
    by_picture = picture is not None and picture.marked and picture.studio_id == marks.settings.studio_id
    if by_manifest:
        generation_id = int(manifest["generation_id"])
        out["method"] = "Content Credentials" + (" (sidecar)" if manifest.get("sidecar") else "") + (
            " and audio watermark" if by_mark else "")
    elif by_mark:
        generation_id = found.generation_id
        out["method"] = "audio watermark" + (" and video watermark" if by_picture else "")
    elif by_picture:
        generation_id = picture.generation_id
        out.update(method="video watermark", confidence=round(picture.confidence, 2), threshold=MIN_PILOT_Z)
    else:
        out["method"] = "audio watermark" if manifest is None else "Content Credentials"
        other = found if found is not None and found.marked else picture if picture is not None and picture.marked \
            else None
        if other is not None:
            out["verdict"] = f"a watermark of another studio (id {other.studio_id}) with this studio's key"
        elif manifest is not None and not manifest.get("intact"):
            out["verdict"] = ("not made here, as far as can be told: its Content Credentials do not validate (the "
                              "file was changed after signing, or signed by someone else)")
        elif manifest is not None:
            out["verdict"] = f"not made here: Content Credentials signed by {manifest.get('signer') or 'someone else'}"
        else:
            out["verdict"] = "not made here: no watermark of this studio was found"
        return out
    if by_manifest and by_mark and found.generation_id != generation_id % 2 ** GENERATION_BITS:
        out["warning"] = (f"the watermark names generation {found.generation_id}, the manifest {generation_id}: "
                          "the file was made from another output of this studio")
    out.update(made_here=True, generation_id=generation_id)
    with library.session() as s:
        g = s.get(Generation, generation_id)
        owner = s.get(User, g.owner_id) if g is not None and g.owner_id is not None else None
    if g is None:
        out["verdict"] = f"made here, by generation {generation_id}, which has since been deleted"
        return out
    from storage.library import licence_flag

    flag = licence_flag(g.model_licence)
    out.update(kind=g.kind, made_at=g.created_at.isoformat(timespec="seconds"), model=g.model,
               model_licence=g.model_licence, commercial_use=flag.commercial_use, licence_note=flag.note)
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
    reused = (g.metrics or {}).get("picture_mark_generation")
    if by_picture and reused is not None and reused != g.id and picture.generation_id == reused % 2 ** GENERATION_BITS:
        out["picture_generation_id"] = reused
        out["verdict"] += (f"; its picture is reused from generation {reused}, the earlier version it was edited from "
                           "(the parts that did not change), so the picture's watermark names that one")
    if by_manifest and manifest.get("content") == "not given":
        out["verdict"] += (f" (its sidecar alone, for '{manifest.get('for_file') or 'a file'}': give that file too to "
                           "check it is unchanged)")
    elif by_manifest and manifest.get("content") == "matches":
        out["verdict"] += f" ('{name}' is unchanged since it was signed)"
    return out
