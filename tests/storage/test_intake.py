"""Upload intake (storage/intake.py): real media is accepted and converted; bad files are refused
with a message that names the problem and the limit, and a refused upload leaves nothing behind.

Pure probe tests call `probe_upload` directly (no database, so they run once); tests that go
through `Library.add_upload` use the `library` fixture (SQLite and PostgreSQL).
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from core.errors import InputError
from storage.intake import Limits, probe_upload
from storage.media import sha256_file
from storage.models import MediaKind

VOICE = "voices/librispeech-1688/1688-142285-0001.flac"  # 16 kHz mono, 12.625 s
PORTRAIT = "portraits/art_0.png"  # 640x896 RGB
SQUARE = "portraits/art_1.png"  # 512x512 RGB

# The app's defaults (settings.py): 200 MB uploads, 30 min, 50 megapixels, 1 GB unpacked.
DEFAULT = Limits(max_bytes=200 << 20, max_seconds=1800.0, max_pixels=50_000_000, max_unzipped_bytes=1024 << 20)

BOMB_PNG_SIDE = 20_000  # 400 megapixels declared, ~50 KB on disk
BOMB_ZIP_MEMBER = 200 << 20  # 200 MB of zeros, ~200 KB deflated


# ------------------------------------------------------------------ helpers


def ffmpeg(*args: str) -> None:
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], capture_output=True)
    assert r.returncode == 0, r.stderr.decode(errors="replace")


def ffprobe_streams(path: Path) -> dict:
    r = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", str(path)],
        capture_output=True, check=True,
    )
    return json.loads(r.stdout)


def refused(src: Path, name: str, workdir: Path, limits: Limits = DEFAULT) -> str:
    """Probe an upload that must be refused; return its message, which must name the file."""
    with pytest.raises(InputError) as ei:
        probe_upload(src, name, limits, workdir)
    msg = str(ei.value)
    assert f"'{name}'" in msg, f"the message does not name the file: {msg}"
    return msg


CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/ppt/presentation.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"/>'
    '<Override PartName="/ppt/slides/slide1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.presentationml.slide+xml"/>'
    '<Override PartName="/ppt/slides/slide2.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.presentationml.slide+xml"/>'
    "</Types>"
)
P_NS = 'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" ' \
       'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" ' \
       'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"'
PRESENTATION = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><p:presentation {P_NS}>'
    '<p:sldIdLst><p:sldId id="256" r:id="rId2"/><p:sldId id="257" r:id="rId3"/></p:sldIdLst>'
    '<p:sldSz cx="9144000" cy="6858000"/><p:notesSz cx="6858000" cy="9144000"/></p:presentation>'
)


def slide_xml(text: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><p:sld {P_NS}><p:cSld><p:spTree>'
        '<p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr/>'
        f'<p:sp><p:txBody><a:bodyPr/><a:p><a:r><a:t>{text}</a:t></a:r></a:p></p:txBody></p:sp>'
        "</p:spTree></p:cSld></p:sld>"
    )


def write_minimal_pptx(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("_rels/.rels",
                    '<?xml version="1.0" encoding="UTF-8"?><Relationships '
                    'xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                    'relationships/officeDocument" Target="ppt/presentation.xml"/></Relationships>')
        zf.writestr("ppt/presentation.xml", PRESENTATION)
        zf.writestr("ppt/slides/slide1.xml", slide_xml("Hello"))
        zf.writestr("ppt/slides/slide2.xml", slide_xml("World"))
        # Relationship parts are not slides and must not be counted as such.
        zf.writestr("ppt/slides/_rels/slide1.xml.rels", "<Relationships/>")
        zf.writestr("ppt/slides/_rels/slide2.xml.rels", "<Relationships/>")
    return path


def write_bomb_png(path: Path, side: int = BOMB_PNG_SIDE) -> Path:
    """A valid 1-bit greyscale PNG of side x side, all black, streamed so it never exists in memory."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    idat = bytearray()
    block = row * 1000
    for _ in range(side // 1000):
        idat += comp.compress(block)
    idat += comp.compress(row * (side % 1000)) + comp.flush()
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", bytes(idat)))
        f.write(chunk(b"IEND", b""))
    return path


def write_zip_bomb_pptx(path: Path, member_bytes: int = BOMB_ZIP_MEMBER) -> Path:
    """A deck-shaped zip with one member that inflates to `member_bytes` of zeros."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("ppt/presentation.xml", PRESENTATION)
        zeros = b"\x00" * (4 << 20)
        with zf.open("ppt/media/image1.bin", "w", force_zip64=True) as f:
            for _ in range(member_bytes // len(zeros)):
                f.write(zeros)
    return path


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def work(tmp_path: Path) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    return d


@pytest.fixture
def voice(samples: Path, tmp_path: Path) -> Path:
    src = samples / VOICE
    dst = tmp_path / "speech.flac"
    shutil.copyfile(src, dst)
    return dst


@pytest.fixture
def fake_wav(tmp_path: Path) -> Path:
    p = tmp_path / "voice.wav"
    p.write_text("This is not audio at all, it is a plain text note.\n" * 20, encoding="utf-8")
    return p


@pytest.fixture
def truncated_flac(voice: Path, tmp_path: Path) -> Path:
    data = voice.read_bytes()
    p = tmp_path / "cut.flac"
    p.write_bytes(data[: int(len(data) * 0.4)])
    return p


@pytest.fixture(scope="session")
def bomb_png(tmp_path_factory) -> Path:
    p = write_bomb_png(tmp_path_factory.mktemp("bomb") / "bomb.png")
    assert p.stat().st_size < 1 << 20
    head = p.read_bytes()[:24]  # signature + IHDR: really declares 20000x20000
    assert head[12:16] == b"IHDR" and struct.unpack(">II", head[16:24]) == (BOMB_PNG_SIDE, BOMB_PNG_SIDE)
    return p


@pytest.fixture(scope="session")
def zip_bomb_pptx(tmp_path_factory) -> Path:
    p = write_zip_bomb_pptx(tmp_path_factory.mktemp("zipbomb") / "deck.pptx")
    assert p.stat().st_size < 2 << 20
    with zipfile.ZipFile(p) as zf:
        assert zf.getinfo("ppt/media/image1.bin").file_size == BOMB_ZIP_MEMBER
    return p


@pytest.fixture
def bad_upload(fake_wav, truncated_flac, bomb_png, zip_bomb_pptx):
    """The four headline bad files: (path, upload name, words the refusal must contain)."""
    return {
        "fake_wav": (fake_wav, "voice.wav", ["named as audio", "plain text"]),
        "truncated_flac": (truncated_flac, "cut.flac", ["damaged"]),
        "bomb_png": (bomb_png, "bomb.png", ["megapixels", "limit is 50 megapixels"]),
        "zip_bomb_pptx": (zip_bomb_pptx, "deck.pptx", ["zip bomb"]),
    }


# ------------------------------------------------------------------ accepted: audio


def test_flac_is_accepted_as_audio(voice: Path, work: Path):
    src_info = sf.info(str(voice))
    p = probe_upload(voice, "speech.flac", DEFAULT, work)
    assert p.kind is MediaKind.audio
    assert (p.ext, p.mime) == (".flac", "audio/flac")
    assert p.path.parent == work and p.path.suffix == ".flac"
    out = sf.info(str(p.path))
    assert out.format == "FLAC" and out.subtype == "PCM_16"
    assert (p.sample_rate, p.channels) == (16000, 1) == (out.samplerate, out.channels)
    assert p.duration_s == pytest.approx(src_info.frames / src_info.samplerate, abs=0.01)
    # Lossless: the converted samples are the source samples.
    a, _ = sf.read(str(voice), dtype="int16")
    b, _ = sf.read(str(p.path), dtype="int16")
    assert np.array_equal(a, b)
    assert p.meta["original_codec"] == "flac"


@pytest.mark.parametrize("ext,args", [
    (".mp3", ["-c:a", "libmp3lame", "-b:a", "64k"]),
    (".wav", ["-c:a", "pcm_s16le"]),
])
def test_mp3_and_wav_are_accepted_as_audio(voice: Path, work: Path, tmp_path: Path, ext, args):
    src_s = sf.info(str(voice)).duration
    made = tmp_path / f"speech{ext}"
    ffmpeg("-i", str(voice), *args, str(made))
    p = probe_upload(made, made.name, DEFAULT, work)
    assert p.kind is MediaKind.audio and p.ext == ".flac"
    assert p.sample_rate == 16000 and p.channels == 1
    assert p.duration_s == pytest.approx(src_s, abs=0.1)
    assert sf.info(str(p.path)).duration == pytest.approx(src_s, abs=0.1)
    assert p.meta["original_codec"] == ("mp3" if ext == ".mp3" else "pcm_s16le")


def test_stereo_48k_wav_keeps_rate_and_two_channels(work: Path, tmp_path: Path):
    made = tmp_path / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1.5:sample_rate=48000", "-ac", "2", str(made))
    p = probe_upload(made, "tone.wav", DEFAULT, work)
    assert (p.kind, p.sample_rate, p.channels) == (MediaKind.audio, 48000, 2)
    assert p.duration_s == pytest.approx(1.5, abs=0.01)


# ------------------------------------------------------------------ accepted: photos


@pytest.mark.parametrize("rel,size", [(PORTRAIT, (640, 896)), (SQUARE, (512, 512))])
def test_portrait_png_is_accepted_pixel_exact(samples: Path, work: Path, rel, size):
    src = samples / rel
    p = probe_upload(src, Path(rel).name, DEFAULT, work)
    assert p.kind is MediaKind.photo
    assert (p.ext, p.mime) == (".png", "image/png")
    assert (p.width, p.height) == size
    with Image.open(p.path) as out, Image.open(src) as orig:
        assert out.format == "PNG" and out.mode == p.meta["mode"] == "RGB"
        assert out.size == size
        assert np.array_equal(np.asarray(out), np.asarray(orig.convert("RGB")))


def test_rgba_png_keeps_alpha(samples: Path, work: Path, tmp_path: Path):
    with Image.open(samples / SQUARE) as im:
        rgba = im.convert("RGBA")
    alpha = np.tile(np.linspace(0, 255, rgba.width, dtype=np.uint8), (rgba.height, 1))
    rgba.putalpha(Image.fromarray(alpha))
    src = tmp_path / "cutout.png"
    rgba.save(src)
    p = probe_upload(src, "cutout.png", DEFAULT, work)
    assert p.meta["mode"] == "RGBA"
    with Image.open(p.path) as out:
        assert out.mode == "RGBA"
        assert np.array_equal(np.asarray(out), np.asarray(rgba))


def test_jpeg_exif_orientation_is_applied(work: Path, tmp_path: Path):
    # Stored 200x100: left half red, right half blue; orientation 6 = display rotated 90° clockwise.
    im = Image.new("RGB", (200, 100), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 100, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    src = tmp_path / "phone.jpg"
    im.save(src, "JPEG", quality=95, exif=exif)
    with Image.open(src) as check:
        assert check.size == (200, 100) and check.getexif()[0x0112] == 6

    p = probe_upload(src, "phone.jpg", DEFAULT, work)
    assert p.kind is MediaKind.photo and p.meta["original_format"] == "JPEG"
    assert (p.width, p.height) == (100, 200)
    with Image.open(p.path) as out:
        assert out.size == (100, 200)
        assert 0x0112 not in out.getexif()  # no orientation left to apply twice
        px = np.asarray(out.convert("RGB")).astype(int)
    top, bottom = px[:90].reshape(-1, 3).mean(0), px[110:].reshape(-1, 3).mean(0)
    assert top[0] > 200 and top[2] < 50, f"top should be red after rotation, got {top}"
    assert bottom[2] > 200 and bottom[0] < 50, f"bottom should be blue after rotation, got {bottom}"


# ------------------------------------------------------------------ accepted: video


@pytest.fixture
def mp4(tmp_path: Path) -> Path:
    p = tmp_path / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=25",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(p))
    return p


def test_h264_mp4_is_accepted_as_video(mp4: Path, work: Path):
    p = probe_upload(mp4, "clip.mp4", DEFAULT, work)
    assert p.kind is MediaKind.video
    assert (p.ext, p.mime) == (".mp4", "video/mp4")
    assert (p.width, p.height) == (320, 240)
    assert p.duration_s == pytest.approx(2.0, abs=0.1)
    assert p.meta["has_audio"] is True and p.meta["fps"] == 25
    assert p.meta["remuxed"] is True  # already H.264 yuv420p + AAC in MP4: copied, not re-encoded
    streams = {s["codec_type"]: s for s in ffprobe_streams(p.path)["streams"]}
    assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"


def test_mpeg4_avi_is_transcoded_to_h264(work: Path, tmp_path: Path):
    src = tmp_path / "old.avi"
    ffmpeg("-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=25",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
           "-c:v", "mpeg4", "-c:a", "libmp3lame", "-shortest", str(src))
    assert {s["codec_name"] for s in ffprobe_streams(src)["streams"]} == {"mpeg4", "mp3"}

    p = probe_upload(src, "old.avi", DEFAULT, work)
    assert p.kind is MediaKind.video and p.ext == ".mp4"
    assert p.meta["original_codec"] == "mpeg4" and p.meta["remuxed"] is False
    assert (p.width, p.height) == (320, 240)
    assert p.duration_s == pytest.approx(2.0, abs=0.15)
    info = ffprobe_streams(p.path)
    assert "mp4" in info["format"]["format_name"]
    streams = {s["codec_type"]: s for s in info["streams"]}
    assert streams["video"]["codec_name"] == "h264" and streams["video"]["pix_fmt"] == "yuv420p"
    assert streams["audio"]["codec_name"] == "aac"


# ------------------------------------------------------------------ accepted: text and decks


@pytest.mark.parametrize("name,ext,mime", [
    ("notes.txt", ".txt", "text/plain"),
    ("script.md", ".md", "text/markdown"),
])
def test_utf8_text_is_accepted(work: Path, tmp_path: Path, name, ext, mime):
    src = tmp_path / name
    src.write_bytes("# Grüße\r\nDigital clone — 你好, ça va?\r\nline three\n".encode())
    p = probe_upload(src, name, DEFAULT, work)
    assert p.kind is MediaKind.text
    assert (p.ext, p.mime, p.path.suffix) == (ext, mime, ext)
    assert p.path.read_text(encoding="utf-8") == "# Grüße\nDigital clone — 你好, ça va?\nline three\n"
    assert p.meta["lines"] == 4


def test_minimal_pptx_is_accepted_with_slide_count(work: Path, tmp_path: Path):
    src = write_minimal_pptx(tmp_path / "talk.pptx")
    p = probe_upload(src, "talk.pptx", DEFAULT, work)
    assert p.kind is MediaKind.pptx and p.ext == ".pptx"
    assert p.mime == "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    assert p.meta["slides"] == 2
    assert p.path.read_bytes() == src.read_bytes()  # kept as is


# ------------------------------------------------------------------ refused


def test_text_named_wav_is_refused(fake_wav: Path, work: Path):
    msg = refused(fake_wav, "voice.wav", work)
    assert "named as audio (.wav)" in msg
    assert "content is plain text" in msg
    assert "WAV, FLAC, MP3" in msg  # says what is accepted


def test_png_named_wav_is_refused(samples: Path, work: Path, tmp_path: Path):
    src = tmp_path / "voice.wav"
    shutil.copyfile(samples / SQUARE, src)
    msg = refused(src, "voice.wav", work)
    assert "named as audio (.wav)" in msg and "PNG image" in msg


def test_truncated_flac_is_refused(truncated_flac: Path, work: Path):
    msg = refused(truncated_flac, "cut.flac", work)
    assert "damaged" in msg or "truncated" in msg


def test_decompression_bomb_png_is_refused(bomb_png: Path, work: Path):
    msg = refused(bomb_png, "bomb.png", work)
    assert "decompression bomb" in msg
    assert "the limit is 50 megapixels" in msg


def test_image_over_pixel_limit_is_refused(samples: Path, work: Path):
    msg = refused(samples / PORTRAIT, "art_0.png", work,
                  Limits(max_bytes=200 << 20, max_seconds=60, max_pixels=200_000, max_unzipped_bytes=1 << 30))
    assert "640x896 pixels (0.573 megapixels)" in msg
    assert "the limit is 0.2 megapixels" in msg


def test_zip_bomb_pptx_is_refused(zip_bomb_pptx: Path, work: Path):
    msg = refused(zip_bomb_pptx, "deck.pptx", work)
    assert "zip bomb" in msg
    assert "ppt/media/image1.bin" in msg and "200.0 MB" in msg
    assert "more than 200x is refused" in msg


def test_zip_over_unpacked_limit_is_refused(work: Path, tmp_path: Path):
    # Incompressible, so no single member looks like a bomb; only the total is too big.
    src = tmp_path / "big.pptx"
    with zipfile.ZipFile(src, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("ppt/presentation.xml", PRESENTATION)
        zf.writestr("ppt/media/noise.bin", np.random.default_rng(0).bytes(3 << 20))
    msg = refused(src, "big.pptx", work,
                  Limits(max_bytes=200 << 20, max_seconds=60, max_pixels=50_000_000, max_unzipped_bytes=2 << 20))
    assert "expands to 3.0 MB" in msg and "limit for unpacked archives is 2.0 MB" in msg


def test_zip_with_lying_sizes_is_refused(work: Path, tmp_path: Path):
    """Headers claim a 1 KB member that really inflates to 8 MB: reading it must catch the lie."""
    payload = b"\x00" * (8 << 20)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("ppt/presentation.xml", PRESENTATION)
        zf.writestr("ppt/media/liar.bin", payload)
    data = bytearray(buf.getvalue())
    real, fake = struct.pack("<I", len(payload)), struct.pack("<I", 1024)
    assert data.count(real) == 2  # local header + central directory
    data = data.replace(real, fake)
    src = tmp_path / "liar.pptx"
    src.write_bytes(bytes(data))
    with zipfile.ZipFile(src) as zf:
        assert zf.getinfo("ppt/media/liar.bin").file_size == 1024
    msg = refused(src, "liar.pptx", work)
    assert "damaged zip archive" in msg


def test_zip_with_unsafe_path_is_refused(work: Path, tmp_path: Path):
    src = tmp_path / "evil.pptx"
    with zipfile.ZipFile(src, "w") as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("ppt/presentation.xml", PRESENTATION)
        zf.writestr("../../etc/evil.xml", "x")
    assert "unsafe path" in refused(src, "evil.pptx", work)


def test_ole_file_named_pptx_is_refused(work: Path, tmp_path: Path):
    src = tmp_path / "locked.pptx"
    src.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 4096)
    msg = refused(src, "locked.pptx", work)
    assert "password-protected" in msg and "without a password as .pptx" in msg


def test_zip_that_is_not_a_deck_is_refused(work: Path, tmp_path: Path):
    src = tmp_path / "photos.pptx"
    with zipfile.ZipFile(src, "w") as zf:
        zf.writestr("readme.txt", "just some files")
        zf.writestr("img/a.bin", b"\x01\x02" * 100)
    msg = refused(src, "photos.pptx", work)
    assert "not a PowerPoint deck" in msg and "(.pptx)" in msg


def test_empty_file_is_refused(work: Path, tmp_path: Path):
    src = tmp_path / "empty.flac"
    src.touch()
    assert "is empty (0 bytes)" in refused(src, "empty.flac", work)


def test_file_over_max_bytes_is_refused(voice: Path, work: Path):
    limits = Limits(max_bytes=100 * 1024, max_seconds=1800, max_pixels=50_000_000, max_unzipped_bytes=1 << 30)
    assert voice.stat().st_size > limits.max_bytes
    msg = refused(voice, "speech.flac", work, limits)
    assert f"is {voice.stat().st_size / (1 << 20):.1f} MB" in msg
    assert "the upload limit is 0.1 MB" in msg


def test_audio_over_max_seconds_is_refused(voice: Path, work: Path):
    limits = Limits(max_bytes=200 << 20, max_seconds=5, max_pixels=50_000_000, max_unzipped_bytes=1 << 30)
    msg = refused(voice, "speech.flac", work, limits)
    assert "lasts 12.6 s" in msg and "the limit is 5 s" in msg


def test_video_over_max_seconds_is_refused(mp4: Path, work: Path):
    limits = Limits(max_bytes=200 << 20, max_seconds=1, max_pixels=50_000_000, max_unzipped_bytes=1 << 30)
    msg = refused(mp4, "clip.mp4", work, limits)
    assert "lasts 2 s" in msg and "the limit is 1 s" in msg


def test_random_bytes_png_is_refused(work: Path, tmp_path: Path):
    src = tmp_path / "noise.png"
    src.write_bytes(np.random.default_rng(1234).bytes(8192))
    msg = refused(src, "noise.png", work)
    assert "not a readable photo file" in msg and "PNG, JPEG" in msg


def test_unknown_extension_random_bytes_is_refused(work: Path, tmp_path: Path):
    src = tmp_path / "blob.xyz"
    src.write_bytes(np.random.default_rng(99).bytes(8192))
    msg = refused(src, "blob.xyz", work)
    assert "not a supported file" in msg and msg.rstrip().endswith(".")
    assert "Accepted:" in msg and "(.pptx)" in msg


# ------------------------------------------------------------------ through the library (SQLite and PostgreSQL)


def stored_files(library) -> list[Path]:
    return sorted(p for p in library.store.root.rglob("*") if p.is_file())


@pytest.mark.parametrize("which", ["fake_wav", "truncated_flac", "bomb_png", "zip_bomb_pptx"])
def test_rejected_upload_leaves_nothing(library, bad_upload, which):
    src, name, words = bad_upload[which]
    project = library.create_project("Refusals")
    before = len(library.security_events())

    with pytest.raises(InputError) as ei:
        library.add_upload(project.id, src, name)
    for w in words:
        assert w in str(ei.value)

    assert library.list_assets(project.id) == []
    assert stored_files(library) == []
    assert list(library.store.scratch.iterdir()) == []
    events = library.security_events()
    assert len(events) == before + 1
    ev = events[0]
    assert ev.type == "upload_rejected"
    assert ev.detail["name"] == name and ev.detail["reason"] == str(ei.value)
    assert src.exists()  # the caller's upload is not touched


def test_good_upload_stores_one_row_and_one_file(library, voice: Path):
    project = library.create_project("Voices")
    a = library.add_upload(project.id, voice, "speech.flac")

    assets = library.list_assets(project.id)
    assert [x.id for x in assets] == [a.id]
    assert a.kind is MediaKind.audio and a.name == "speech.flac" and a.origin == "upload"
    assert (a.sample_rate, a.channels) == (16000, 1)
    assert a.duration_s == pytest.approx(sf.info(str(voice)).duration, abs=0.01)
    files = stored_files(library)
    assert files == [library.asset_path(a)]
    assert sha256_file(files[0]) == a.sha256 and files[0].stat().st_size == a.size_bytes
    assert list(library.store.scratch.iterdir()) == []
    assert not [e for e in library.security_events() if e.type == "upload_rejected"]
    assert voice.exists()


def test_duplicate_uploads_share_one_file_until_both_are_deleted(library, voice: Path):
    project = library.create_project("Dupes")
    a = library.add_upload(project.id, voice, "first.flac")
    b = library.add_upload(project.id, voice, "second.flac")

    assert a.id != b.id and a.sha256 == b.sha256
    assert len(library.list_assets(project.id)) == 2
    path = library.asset_path(a)
    assert stored_files(library) == [path]

    library.delete_asset(a.id)
    assert [x.id for x in library.list_assets(project.id)] == [b.id]
    assert stored_files(library) == [path] and path.exists()

    library.delete_asset(b.id)
    assert library.list_assets(project.id) == []
    assert stored_files(library) == []
    assert not path.exists()
