"""Gradio's cache expires: every entry whose newest file is older than the expiry goes, whatever made
it (download folders, uploads from before a restart, folders Gradio emptied), and nothing younger."""

from __future__ import annotations

import os
import time
from pathlib import Path

from storage.cache import expire


def ctime(path: Path) -> float:
    return os.lstat(path).st_ctime


def test_entries_older_than_the_expiry_go_and_younger_ones_stay(tmp_path):
    root = tmp_path / "cache"
    (root / "dl-u1-old").mkdir(parents=True)
    (root / "dl-u1-old" / "song.wav").write_bytes(b"x" * 1000)
    upload = root / ("a" * 64)
    upload.mkdir()
    (upload / "upload.flac").write_bytes(b"y" * 10)
    (root / "emptied").mkdir()
    (root / "tmpupload").write_bytes(b"z" * 5)  # an upload cut off half-way
    (root / "dl-u2-touched").mkdir()
    (root / "dl-u2-touched" / "old.wav").write_bytes(b"o" * 7)
    first, old = min(ctime(p) for p in root.rglob("*")), max(ctime(p) for p in root.rglob("*"))
    time.sleep(0.05)
    # A copy made later in an old folder (or a cached file handed out again: Gradio touches it).
    (root / "dl-u2-touched" / "new.wav").write_bytes(b"n")
    new = ctime(root / "dl-u2-touched" / "new.wav")
    assert new > old

    assert expire(root, 60, now=first + 60).entries == 0  # none older than the expiry yet
    gone = expire(root, 60, now=old + 60 + (new - old) / 2)
    assert (gone.entries, gone.bytes) == (4, 1015)
    assert [p.name for p in root.iterdir()] == ["dl-u2-touched"]
    assert expire(root, 60, now=new + 61).entries == 1 and list(root.iterdir()) == []


def test_a_missing_cache_is_nothing_to_expire(tmp_path):
    assert expire(tmp_path / "never-made", 1).entries == 0
