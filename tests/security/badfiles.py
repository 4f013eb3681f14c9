"""Small bad files built in code: each is a few kilobytes at most, whatever it claims to be."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf


def png_header(width_px: int, height_px: int) -> bytes:
    """A PNG whose header declares width x height pixels and holds no pixel data: what a decompression bomb
    looks like before anything is decoded (intake must refuse it from the header alone)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width_px, height_px, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def png(width_px: int = 64, height_px: int = 48) -> bytes:
    """A real, small PNG: a grey gradient."""
    from PIL import Image

    a = np.linspace(0, 255, width_px * height_px, dtype=np.float32).reshape(height_px, width_px).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def flac(seconds: float = 1.0, sample_rate: int = 16000) -> bytes:
    """A real FLAC: a quiet tone."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    buf = io.BytesIO()
    sf.write(buf, 0.2 * np.sin(2 * np.pi * 220 * t), sample_rate, format="FLAC")
    return buf.getvalue()


def silent_flac(seconds: float, sample_rate: int = 8000) -> bytes:
    """Digital silence as FLAC (a few kilobytes even for minutes)."""
    buf = io.BytesIO()
    sf.write(buf, np.zeros(int(seconds * sample_rate), dtype=np.int16), sample_rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def truncated_flac() -> bytes:
    """A FLAC cut off after its first third: the header promises more than can be decoded."""
    data = flac(3.0)
    return data[: len(data) // 3]


def truncated_mp4(folder: Path) -> bytes:
    """A real 1 s H.264 MP4 (64x64) cut off halfway."""
    out = folder / "whole.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=10:duration=1",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-y", str(out)], check=True)
    data = out.read_bytes()
    return data[: len(data) // 2]


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def pptx_bomb() -> bytes:
    """A .pptx-looking zip with a member that expands over 1000 times (8 MB of zeros in about 8 kB)."""
    return zip_bytes({"[Content_Types].xml": b"<Types/>", "ppt/presentation.xml": b"<p/>",
                      "ppt/media/huge.bin": bytes(8 << 20)})


def pptx_slip() -> bytes:
    """A .pptx-looking zip with a member named to land outside the folder it would be unpacked into."""
    return zip_bytes({"[Content_Types].xml": b"<Types/>", "ppt/presentation.xml": b"<p/>",
                      "../../evil.sh": b"echo pwned"})


EXPORT_FORMAT = "digital-clone-studio/project/1"


def project_zip(assets: list[dict], extra: dict[str, bytes] | None = None, name: str = "Imported") -> bytes:
    """A project export: manifest.json plus media/<file> members. Each asset: {"file": member name,
    "data": bytes, "kind", "name", and anything else the manifest should claim}."""
    import hashlib

    manifest_assets, members = [], {}
    for i, a in enumerate(assets, start=1):
        a = dict(a)
        data = a.pop("data")
        members[a["file"]] = data
        manifest_assets.append({"id": i, "sha256": hashlib.sha256(data).hexdigest(), "mime": "", "meta": {},
                                "origin": "upload", **a})
    manifest = {"format": EXPORT_FORMAT, "project": {"name": name}, "assets": manifest_assets, "generations": []}
    return zip_bytes({"manifest.json": json.dumps(manifest).encode(), **members, **(extra or {})})
