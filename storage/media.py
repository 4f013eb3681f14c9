"""The media store: files under DATA_DIR/media named by their content hash.

Files arrive from the scratch area (DATA_DIR/scratch) and are moved in atomically,
so a crash leaves at worst a scratch file (cleared at start-up) or a stored file no
row refers to (collected at start-up), never a half-written stored file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

from core.scratch import private_dir

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class MediaStore:
    def __init__(self, root: Path, scratch: Path) -> None:
        self.root = Path(root)
        self.scratch = Path(scratch)
        self.root.mkdir(parents=True, exist_ok=True)
        self.scratch.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str, ext: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        if not ext.startswith(".") or "/" in ext or "\\" in ext or len(ext) > 16:
            raise ValueError(f"bad extension {ext!r}")
        return self.root / sha256[:2] / f"{sha256}{ext}"

    def new_scratch_dir(self, prefix: str = "work-") -> Path:
        """A private directory for work in progress; the caller removes it (or start-up does)."""
        return private_dir(self.scratch, prefix)

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

    def clear_scratch(self) -> None:
        for p in self.scratch.iterdir():
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)

    def usage_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.glob("??/*") if p.is_file())
