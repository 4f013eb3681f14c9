"""Gradio's cache under DATA_DIR/cache: uploads, and the copies of stored files made for downloads.

Nothing in it is kept: every entry (a folder per upload or per request's downloads) is removed once
its newest file is older than the expiry, so its size stays bounded by what a few hours of use hands
out. Gradio's own `delete_cache` removes the files it tracks in this process; `expire` also takes what
it does not track (download folders, uploads from before a restart, half-finished uploads) and the
folders left empty.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Expired:
    # Top-level entries removed, and the bytes their files held.
    entries: int = 0
    bytes: int = 0


def _newest_change(path: Path) -> tuple[float, int]:
    """(latest ctime of the entry or anything in it, in seconds since the epoch; bytes of its files).
    ctime, as Gradio's delete_cache uses: a copy keeps its source's mtime, and handing a cached file out
    again touches it."""
    st = path.lstat()
    newest, size = st.st_ctime, (st.st_size if not path.is_dir() else 0)
    if path.is_dir() and not path.is_symlink():
        for folder, dirs, files in os.walk(path):
            for name in dirs + files:
                try:
                    s = os.lstat(os.path.join(folder, name))
                except FileNotFoundError:
                    continue
                newest = max(newest, s.st_ctime)
                if name in files:
                    size += s.st_size
    return newest, size


def expire(root: str | Path, max_age_s: float, now: float | None = None) -> Expired:
    """Remove every entry directly in `root` whose newest change is more than `max_age_s` seconds
    before `now` (default: the current time). Entries that vanish meanwhile are skipped."""
    root = Path(root)
    now = time.time() if now is None else now
    entries = total = 0
    try:
        children = list(root.iterdir())
    except FileNotFoundError:
        return Expired()
    for entry in children:
        try:
            newest, size = _newest_change(entry)
        except FileNotFoundError:
            continue
        if now - newest <= max_age_s:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        entries += 1
        total += size
    if entries:
        log.info("cache: removed %d expired entr%s (%.1f MB)", entries, "y" if entries == 1 else "ies", total / 1e6)
    return Expired(entries, total)
