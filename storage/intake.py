"""Media intake: probe an upload by its content, check it against limits, and
convert it to the canonical working format the engines read.

    text  -> UTF-8 .txt / .md
    photo -> PNG (EXIF orientation applied; RGB or RGBA)
    audio -> FLAC (original rate, at most 2 channels, 16-bit)
    video -> MP4, H.264 yuv420p + AAC, faststart
    pptx  -> kept as is, after zip member and size checks

The file name's extension is only a claim: when it names another kind than the
content has (a ".wav" holding text), the upload is refused.

A project zip's members go through the same intake (`probe_member`): the kind its manifest
declares is one more claim, checked like the extension. Generated files that are no media
(MIDI, the NumPy archives of a speech's sentences) are checked as what they claim to be.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from core.errors import InputError
from core.image import NotAnImage, decode_image, has_alpha, megapixels, open_image
from core.probe import NotMedia, ffmpeg_binary, probe_media
from storage.models import MediaKind

log = logging.getLogger(__name__)

AUDIO_EXTS = {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".aif", ".aiff", ".webm_audio"}
VIDEO_EXTS = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}
PHOTO_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
TEXT_EXTS = {".txt", ".md", ".markdown", ".lrc", ".srt", ".csv", ".json"}
PPTX_EXTS = {".pptx"}
EXT_KIND = (
    {e: MediaKind.audio for e in AUDIO_EXTS}
    | {e: MediaKind.video for e in VIDEO_EXTS}
    | {e: MediaKind.photo for e in PHOTO_EXTS}
    | {e: MediaKind.text for e in TEXT_EXTS}
    | {e: MediaKind.pptx for e in PPTX_EXTS}
)
ALLOWED = {
    MediaKind.text: "text (.txt, .md, .lrc, .srt, .csv, .json; UTF-8)",
    MediaKind.photo: "photos (PNG, JPEG, WebP, BMP, GIF, TIFF)",
    MediaKind.audio: "audio (WAV, FLAC, MP3, OGG/Opus, M4A/AAC, AIFF)",
    MediaKind.video: "video (MP4, MOV, MKV, WebM, AVI)",
    MediaKind.pptx: "PowerPoint decks (.pptx)",
}
ALLOWED_SENTENCE = "Accepted: " + "; ".join(ALLOWED.values()) + "."

# ffprobe format names that detect almost anything and prove nothing.
_WEAK_FORMATS = {"tty", "image2", "image2pipe", "lrc", "srt", "webvtt", "ass", "subviewer", "jacosub", "mpl2", "data"}
_TEXT_SNIFF_BYTES = 1 << 20
_MAX_TEXT_BYTES = 10 << 20
_ZIP_MAX_MEMBERS = 10_000
_ZIP_MAX_RATIO = 200  # per member, uncompressed / compressed, for members over 1 MB
_MIN_PHOTO_SIDE_PX = 8


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_seconds: float
    max_pixels: int
    max_unzipped_bytes: int
    # Most bytes one user may keep stored (assets and voice profiles); 0 = no limit.
    max_user_bytes: int = 0

    @classmethod
    def from_settings(cls, s) -> Limits:
        return cls(
            max_bytes=s.max_upload_mb * 1024 * 1024,
            max_seconds=float(s.max_media_seconds),
            max_pixels=s.max_image_pixels,
            max_unzipped_bytes=s.max_unzipped_mb * 1024 * 1024,
            max_user_bytes=s.max_storage_mb_per_user * 1024 * 1024,
        )


@dataclass
class Probed:
    """A checked upload, converted; `path` lies in the caller's scratch directory."""

    kind: MediaKind
    path: Path
    ext: str
    mime: str
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    sample_rate: int | None = None
    channels: int | None = None
    meta: dict = field(default_factory=dict)


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def _dur(seconds: float) -> str:
    """A duration as "12.6 s", "1 min 30 s" or "30 min" (a 90 s limit is not "2 min")."""
    m, s = divmod(round(seconds, 1), 60)
    s_txt = f"{s:.1f}".rstrip("0").rstrip(".")
    if not m:
        return f"{s_txt} s"
    return f"{int(m)} min" + (f" {s_txt} s" if s_txt != "0" else "")


def _run(cmd: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise InputError(f"converting the file took longer than {timeout:.0f} s; it may be damaged") from None


# ---------------------------------------------------------------- sniffing


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True  # UTF-16 with BOM
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        # A multi-byte character cut at the end of the sniffed block is fine.
        if e.start < len(head) - 4:
            return False
        text = head[: e.start].decode("utf-8")
    bad = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\r\f")
    return bad <= max(1, len(text) // 1000)


def _describe_content(kind: MediaKind | None, detail: str = "") -> str:
    names = {
        MediaKind.text: "plain text",
        MediaKind.photo: "an image",
        MediaKind.audio: "audio",
        MediaKind.video: "video",
        MediaKind.pptx: "a PowerPoint deck",
    }
    return names.get(kind, "data of an unknown type") + (f" ({detail})" if detail else "")


def probe_upload(src: Path, original_name: str, limits: Limits, workdir: Path) -> Probed:
    """Check and convert one upload. Raises InputError naming the problem and the limit."""
    src = Path(src)
    name = Path(original_name or src.name).name
    ext = Path(name).suffix.lower()
    claimed = EXT_KIND.get(ext)
    if not src.is_file():
        raise InputError(f"'{name}' was not received")
    size = src.stat().st_size
    if size == 0:
        raise InputError(f"'{name}' is empty (0 bytes)")
    if size > limits.max_bytes:
        raise InputError(f"'{name}' is {_mb(size)}; the upload limit is {_mb(limits.max_bytes)}")
    with open(src, "rb") as f:
        head = f.read(_TEXT_SNIFF_BYTES)

    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise InputError(
            f"'{name}' is a password-protected Office file or an old binary .ppt/.doc; "
            "save it without a password as .pptx and upload that"
        )
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        _expect(name, ext, claimed, MediaKind.pptx, "a zip archive")
        return _intake_pptx(src, name, limits, workdir)
    if _looks_like_text(head):
        _expect(name, ext, claimed, MediaKind.text, "plain text")
        return _intake_text(src, name, ext, size, workdir)

    photo = _try_image(src, name, limits)
    if photo is not None:
        _expect(name, ext, claimed, MediaKind.photo, f"a {photo[1]} image")
        return _intake_photo(photo[0], name, workdir)

    try:
        info = probe_media(src)
    except NotMedia:
        info = {"format_name": ""}
    fmt = info["format_name"]
    if fmt and fmt not in _WEAK_FORMATS and (info["video_codec"] or info["audio_codec"]):
        kind = MediaKind.video if info["video_codec"] else MediaKind.audio  # cover art does not make a video
        _expect(name, ext, claimed, kind, f"{kind.value} in {fmt.split(',')[0]} format")
        if kind is MediaKind.audio:
            return _intake_audio(src, name, info, limits, workdir)
        return _intake_video(src, name, info, limits, workdir)

    if claimed is not None:
        raise InputError(
            f"'{name}' is not a readable {claimed.value} file: its content is damaged or of an unknown type. "
            f"Accepted {ALLOWED[claimed]}."
        )
    raise InputError(f"'{name}' is not a supported file or is damaged. {ALLOWED_SENTENCE}")


def _expect(name: str, ext: str, claimed: MediaKind | None, actual: MediaKind, detail: str) -> None:
    if claimed is not None and claimed is not actual:
        raise InputError(
            f"'{name}' is named as {claimed.value} ({ext}) but its content is {detail}, "
            f"not {claimed.value}. Upload a real {ALLOWED[claimed]} file, or give it the right extension."
        )


# ---------------------------------------------------------------- text


def _intake_text(src: Path, name: str, ext: str, size: int, workdir: Path) -> Probed:
    if size > _MAX_TEXT_BYTES:
        raise InputError(f"'{name}' is {_mb(size)} of text; the limit for text is {_mb(_MAX_TEXT_BYTES)}")
    raw = src.read_bytes()
    for enc in ("utf-8-sig", "utf-16"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputError(f"'{name}' is not valid UTF-8 text; save it as UTF-8 and upload again")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out_ext = ".md" if ext in (".md", ".markdown") else ".txt"
    out = workdir / f"text{out_ext}"
    out.write_text(text, encoding="utf-8")
    mime = "text/markdown" if out_ext == ".md" else "text/plain"
    return Probed(MediaKind.text, out, out_ext, mime, meta={"chars": len(text), "lines": text.count("\n") + 1})


# ---------------------------------------------------------------- photo


def _try_image(src: Path, name: str, limits: Limits):
    """Open lazily (header only) and check the pixel count before decoding anything; None when no image."""
    try:
        im = open_image(src, limits.max_pixels, _MIN_PHOTO_SIDE_PX, name=name)
    except NotAnImage:
        return None
    return im, (im.format or "unknown")


def _intake_photo(im, name: str, workdir: Path) -> Probed:
    fmt = im.format
    with im:
        im = decode_image(im, name)
    mode = "RGBA" if has_alpha(im) else "RGB"
    im = im.convert(mode)
    out = workdir / "photo.png"
    im.save(out, format="PNG", optimize=False)
    return Probed(
        MediaKind.photo, out, ".png", "image/png", width=im.width, height=im.height,
        meta={"original_format": fmt, "mode": mode},
    )


# ---------------------------------------------------------------- pptx


def check_zip(src: Path, name: str, limits: Limits) -> zipfile.ZipFile:
    """Open a zip and refuse bombs: member count, declared and real sizes, ratios, paths."""
    try:
        zf = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, OSError) as e:
        raise InputError(f"'{name}' is a damaged zip archive ({e})") from None
    infos = zf.infolist()
    if len(infos) > _ZIP_MAX_MEMBERS:
        raise InputError(f"'{name}' holds {len(infos)} files; the limit is {_ZIP_MAX_MEMBERS}")
    declared = 0
    for info in infos:
        p = PurePosixPath(info.filename)
        if p.is_absolute() or ".." in p.parts or "\\" in info.filename:
            raise InputError(f"'{name}' contains an unsafe path ({info.filename!r})")
        if info.flag_bits & 0x1:
            raise InputError(f"'{name}' is encrypted; remove the password and upload again")
        declared += info.file_size
        if info.file_size > (1 << 20) and info.file_size > _ZIP_MAX_RATIO * max(info.compress_size, 1):
            raise InputError(
                f"'{name}' looks like a zip bomb: {info.filename} "
                f"expands {info.file_size // max(info.compress_size, 1)}x "
                f"to {_mb(info.file_size)} (more than {_ZIP_MAX_RATIO}x is refused)"
            )
    if declared > limits.max_unzipped_bytes:
        raise InputError(
            f"'{name}' expands to {_mb(declared)}; the limit for unpacked archives is {_mb(limits.max_unzipped_bytes)}"
        )
    # Sizes in headers can lie: read everything, counting real bytes (this also checks CRCs).
    total = 0
    try:
        for info in infos:
            with zf.open(info) as f:
                while chunk := f.read(1 << 20):
                    total += len(chunk)
                    if total > limits.max_unzipped_bytes:
                        raise InputError(
                            f"'{name}' expands past {_mb(limits.max_unzipped_bytes)} (a zip bomb?); refused"
                        )
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError) as e:
        raise InputError(f"'{name}' is a damaged zip archive ({e})") from None
    return zf


def _intake_pptx(src: Path, name: str, limits: Limits, workdir: Path) -> Probed:
    zf = check_zip(src, name, limits)
    with zf:
        names = set(zf.namelist())
        if "[Content_Types].xml" not in names or "ppt/presentation.xml" not in names:
            raise InputError(
                f"'{name}' is a zip archive but not a PowerPoint deck; {ALLOWED[MediaKind.pptx]} only "
                "(project archives go through Import project)"
            )
        slides = sum(
            1 for n in names
            if n.startswith("ppt/slides/slide") and n.endswith(".xml") and "/_rels/" not in n
        )
    out = workdir / "deck.pptx"
    shutil.copyfile(src, out)
    mime = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    return Probed(MediaKind.pptx, out, ".pptx", mime, meta={"slides": slides})


# ---------------------------------------------------------------- audio / video


def _check_duration(name: str, duration: float | None, limits: Limits) -> None:
    if duration is not None and duration > limits.max_seconds:
        raise InputError(
            f"'{name}' lasts {_dur(duration)}; the limit is {_dur(limits.max_seconds)}"
        )


def _ffmpeg_error(name: str, r: subprocess.CompletedProcess, what: str) -> InputError:
    lines = [ln for ln in r.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    detail = lines[-1][:200] if lines else f"ffmpeg exit code {r.returncode}"
    return InputError(f"'{name}' is damaged or truncated: its {what} could not be decoded ({detail})")


def _intake_audio(src: Path, name: str, info: dict, limits: Limits, workdir: Path) -> Probed:
    import soundfile as sf

    claimed_s = info["duration_s"] or info["audio_duration_s"]
    _check_duration(name, claimed_s, limits)
    channels = min(int(info["audio_channels"] or 1), 2)
    out = workdir / "audio.flac"
    r = _run([
        ffmpeg_binary(), "-nostdin", "-v", "error", "-xerror", "-i", str(src), "-map", "0:a:0", "-vn",
        "-ac", str(channels), "-c:a", "flac", "-sample_fmt", "s16", "-t", str(limits.max_seconds + 1), "-y", str(out),
    ])
    if r.returncode != 0 or not out.exists():
        raise _ffmpeg_error(name, r, "audio")
    decoded = sf.info(str(out))
    got_s = decoded.frames / decoded.samplerate
    if got_s <= 0:
        raise InputError(f"'{name}' holds no audio samples")
    if claimed_s and got_s < claimed_s - max(0.5, 0.05 * claimed_s):
        raise InputError(
            f"'{name}' is truncated or damaged: its header promises {claimed_s:.1f} s "
            f"but only {got_s:.1f} s could be decoded"
        )
    _check_duration(name, got_s, limits)
    return Probed(
        MediaKind.audio, out, ".flac", "audio/flac", duration_s=round(got_s, 4),
        sample_rate=decoded.samplerate, channels=decoded.channels,
        meta={"original_format": info["format_name"].split(",")[0], "original_codec": info["audio_codec"]},
    )


def _intake_video(src: Path, name: str, info: dict, limits: Limits, workdir: Path) -> Probed:
    fmt = info["format_name"]
    has_audio = info["audio_codec"] is not None
    duration = info["duration_s"] or info["video_duration_s"]
    if duration is None:
        raise InputError(f"'{name}' has no readable duration; it may be damaged")
    _check_duration(name, duration, limits)
    w, h = int(info["width"] or 0), int(info["height"] or 0)
    if w * h > limits.max_pixels:
        raise InputError(f"'{name}' is {w}x{h}; the limit is {megapixels(limits.max_pixels)} megapixels per frame")
    if w < 16 or h < 16:
        raise InputError(f"'{name}' has a video frame of {w}x{h}; at least 16x16 is needed")
    out = workdir / "video.mp4"
    copy_ok = (  # the first video and audio streams are all the output keeps
        info["video_codec"] == "h264" and info["pix_fmt"] == "yuv420p" and ("mp4" in fmt or "mov" in fmt)
        and info["audio_codec"] in ("aac", None)
    )
    base = [ffmpeg_binary(), "-nostdin", "-v", "error", "-xerror", "-i", str(src), "-map", "0:v:0"]
    if has_audio:
        base += ["-map", "0:a:0"]
    if copy_ok:
        codec = ["-c", "copy"]
    else:
        codec = [
            "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-c:v", "libx264", "-preset", "veryfast",
            "-crf", "20", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "160k",
        ]
    r = _run(base + codec + ["-movflags", "+faststart", "-y", str(out)], timeout=1800)
    if r.returncode != 0 or not out.exists():
        raise _ffmpeg_error(name, r, "video")
    try:
        final = probe_media(out)
    except NotMedia:
        final = {"video_codec": None}
    if final["video_codec"] is None:
        raise InputError(f"'{name}' is damaged: no video frames could be decoded")
    got_s = final["duration_s"] or duration
    return Probed(
        MediaKind.video, out, ".mp4", "video/mp4", duration_s=round(got_s, 4),
        width=int(final["width"]), height=int(final["height"]),
        meta={"original_format": fmt.split(",")[0], "original_codec": info["video_codec"],
              "fps": round(final["fps"], 3) if final["fps"] else None, "has_audio": has_audio,
              "remuxed": copy_ok},
    )


# ---------------------------------------------------------------- project archive members

# Generated files that are not media, kept with a project (MediaKind.other): extension -> what it is.
DATA_FORMATS = {".mid": "MIDI", ".npz": "NumPy archive", ".c2pa": "Content Credentials (C2PA manifest store)"}
ALLOWED_DATA = "generated files (MIDI .mid, NumPy .npz, Content Credentials sidecar .c2pa)"


def probe_member(src: Path, member: str, declared: MediaKind, limits: Limits, workdir: Path) -> Probed:
    """Check and convert one media file taken from a project zip, exactly as an upload of that file
    (content probe, limits, pixel limits before decoding, conversion). The manifest's `declared` kind is a
    claim like the extension: content of another kind is refused (InputError naming `member`)."""
    if declared is MediaKind.other:
        return _intake_data(src, member, limits, workdir)
    probed = probe_upload(src, PurePosixPath(member).name, limits, workdir)
    if probed.kind is not declared:
        raise InputError(f"{member} is declared {_a(declared)} but its content is {_describe_content(probed.kind)}; "
                         f"{declared.value} files must be {ALLOWED[declared]}")
    return probed


def _a(kind: MediaKind) -> str:
    return {MediaKind.audio: "audio", MediaKind.video: "a video", MediaKind.text: "text",
            MediaKind.photo: "a photo", MediaKind.pptx: "a PowerPoint deck"}.get(kind, kind.value)


def _intake_data(src: Path, member: str, limits: Limits, workdir: Path) -> Probed:
    """A generated data file: a MIDI file or a NumPy archive (arrays only, nothing pickled)."""
    ext = PurePosixPath(member).suffix.lower()
    if ext not in DATA_FORMATS:
        raise InputError(f"{member} is declared a generated file ({MediaKind.other.value}) but is none of the "
                         f"{ALLOWED_DATA}")
    size = src.stat().st_size
    if size == 0:
        raise InputError(f"{member} is empty (0 bytes)")
    if size > limits.max_bytes:
        raise InputError(f"{member} is {_mb(size)}; the limit is {_mb(limits.max_bytes)}")
    not_it = InputError(f"{member} is not a readable {DATA_FORMATS[ext]} file; {MediaKind.other.value} files "
                        f"must be {ALLOWED_DATA}")
    if ext == ".mid":
        _check_midi(src, not_it)
        mime = "audio/midi"
    elif ext == ".c2pa":
        _check_jumbf(src, not_it)
        mime = "application/c2pa"
    else:
        with check_zip(src, member, limits) as zf:
            if not zf.namelist() or not all(n.endswith(".npy") for n in zf.namelist()):
                raise not_it
        import numpy as np

        try:
            with np.load(src, allow_pickle=False) as z:  # object arrays (pickles) are refused
                for key in z.files:
                    z[key]
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise InputError(f"{not_it} ({e})") from None
        mime = "application/zip"
    out = workdir / f"data{ext}"
    shutil.copyfile(src, out)
    return Probed(MediaKind.other, out, ext, mime)


def _check_jumbf(src: Path, not_it: InputError) -> None:
    """A C2PA manifest store: one JUMBF superbox ("jumb") whose declared length is the whole file. Its
    signature is the C2PA SDK's to check, when it is read (/verify_media)."""
    with open(src, "rb") as f:
        head = f.read(8)
    if len(head) < 8 or head[4:] != b"jumb" or int.from_bytes(head[:4], "big") != src.stat().st_size:
        raise not_it


def _check_midi(src: Path, not_it: InputError) -> None:
    """A standard MIDI file: an MThd header chunk, then chunks that end exactly at the end of the file."""
    data = src.read_bytes()
    if len(data) < 14 or data[:4] != b"MThd" or int.from_bytes(data[4:8], "big") != 6:
        raise not_it
    pos = 8 + 6
    while pos < len(data):
        if pos + 8 > len(data):
            raise not_it
        pos += 8 + int.from_bytes(data[pos + 4:pos + 8], "big")
    if pos != len(data):
        raise not_it
