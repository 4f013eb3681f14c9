"""The media store: files named by their content hash (sha256 + extension).

Two stores keep the same contract (put, local_path, remove, stored, collect_garbage, usage_bytes):
`MediaStore`, files under DATA_DIR/media (the default, or a folder every node mounts), and
`storage.object_media.ObjectMediaStore`, objects in S3-compatible storage read through a bounded local
cache (MEDIA_URL=s3://bucket/prefix). `open_media_store(settings)` picks one; the object store's client
is imported only when it is chosen.

Files arrive from the scratch area (DATA_DIR/scratch, always local) and are moved in atomically,
so a crash leaves at worst a scratch file (cleared at start-up) or a stored file no
row refers to (collected at start-up), never a half-written stored file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from core.scratch import private_dir

if TYPE_CHECKING:
    from storage.object_media import ObjectMediaStore

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


def check_name(sha256: str, ext: str) -> None:
    """ValueError unless (sha256, ext) can name a stored file: 64 lower-case hex digits and a short '.ext'."""
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    if not ext.startswith(".") or "/" in ext or "\\" in ext or len(ext) > 16:
        raise ValueError(f"bad extension {ext!r}")


def split_name(name: str) -> tuple[str, str] | None:
    """(sha256, ext) of a stored file's name, or None when the name is not one (a partial move, a stranger)."""
    sha, ext = name[:64], name[64:]
    try:
        check_name(sha, ext)
    except ValueError:
        return None
    return sha, ext


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class ScratchArea:
    """What both stores share: the local scratch folder where work in progress is made."""

    scratch: Path

    def new_scratch_dir(self, prefix: str = "work-") -> Path:
        """A private directory for work in progress; the caller removes it (or start-up does)."""
        return private_dir(self.scratch, prefix)

    def clear_scratch(self) -> None:
        for p in self.scratch.iterdir():
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


class MediaStore(ScratchArea):
    """Stored files in a local folder (or one every node mounts): DATA_DIR/media/ab/abcd...ef.wav."""

    def __init__(self, root: Path, scratch: Path) -> None:
        self.root = Path(root)
        self.scratch = Path(scratch)
        self.root.mkdir(parents=True, exist_ok=True)
        self.scratch.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str, ext: str) -> Path:
        check_name(sha256, ext)
        return self.root / sha256[:2] / f"{sha256}{ext}"

    def local_path(self, sha256: str, ext: str) -> Path:
        """The stored file as a local path to read (here: where it lives)."""
        return self.path_for(sha256, ext)

    def put(self, src: Path, ext: str) -> tuple[str, int, bool]:
        """Move `src` into the store. Returns (sha256, size in bytes, newly_created).

        Identical content is stored once; `src` is consumed either way.
        """
        sha = sha256_file(src)
        size = src.stat().st_size
        dest = self.path_for(sha, ext)
        if dest.exists():
            src.unlink()
            return sha, size, False
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.part")
        shutil.move(str(src), tmp)
        os.replace(tmp, dest)
        return sha, size, True

    def remove(self, sha256: str, ext: str) -> bool:
        path = self.path_for(sha256, ext)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        try:
            path.parent.rmdir()
        except OSError:
            pass
        return True

    def stored(self) -> set[tuple[str, str]]:
        """Every (sha256, ext) on disk."""
        out = set()
        for p in self.root.glob("??/*"):
            if p.is_file() and not p.name.startswith("."):
                sha, ext = p.name[:64], p.name[64:]
                out.add((sha, ext))
        return out

    def collect_garbage(self, referenced: set[tuple[str, str]]) -> int:
        """Remove stored files no row refers to, and leftover partial moves. Returns the count."""
        removed = 0
        for p in self.root.glob("??/.*.part"):
            p.unlink(missing_ok=True)
            removed += 1
        for sha, ext in self.stored() - referenced:
            removed += self.remove(sha, ext)
        if removed:
            log.info("media store: removed %d unreferenced file(s)", removed)
        return removed

    def usage_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.glob("??/*") if p.is_file())


def open_media_store(settings) -> MediaStore | ObjectMediaStore:
    """The store the settings ask for: the local folder (DATA_DIR/media), or the S3-compatible bucket of
    MEDIA_URL, whose client is imported here only then (a plain `make run` loads none of it)."""
    if not settings.media_url:
        return MediaStore(settings.media_dir, settings.scratch_dir)
    from storage.object_media import ObjectMediaStore, s3_objects

    return ObjectMediaStore(s3_objects(settings), settings.media_bucket[1], settings.media_cache_dir,
                            settings.scratch_dir, cache_bytes=settings.media_cache_mb * 1024 * 1024,
                            url=settings.media_url)
