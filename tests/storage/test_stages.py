"""Stage results kept by content: reused while the inputs are the same, nothing half-made on failure."""

from __future__ import annotations

import os
import time

import pytest

from storage.stages import StageCache, key


def test_a_stage_runs_once_per_key_and_is_reused_after(tmp_path):
    cache = StageCache(tmp_path / "stages", 10_000_000)
    runs = []

    def make(folder):
        runs.append(folder)
        (folder / "out.txt").write_text("hello")
        return {"words": 1}

    k = key("speech", 1, "hello")
    first = cache.run(k, make)
    again = cache.run(k, make)
    other = cache.run(key("speech", 1, "hello!"), make)
    assert (first.reused, again.reused, other.reused) == (False, True, False)
    assert len(runs) == 2 and again.meta == {"words": 1} and (again.folder / "out.txt").read_text() == "hello"
    assert key("a", [1, 2], {"x": 1}) == key("a", [1, 2], {"x": 1}) != key("a", [2, 1], {"x": 1})


def test_a_failed_stage_leaves_nothing_and_runs_again(tmp_path):
    cache = StageCache(tmp_path / "stages", 10_000_000)
    k = key("head", 3)

    def broken(folder):
        (folder / "half.mp4").write_bytes(b"x" * 100)
        raise RuntimeError("the engine fell over")

    with pytest.raises(RuntimeError):
        cache.run(k, broken)
    assert cache.get(k) is None and cache.entries() == []
    assert not list((tmp_path / "stages" / ".building").iterdir())
    assert cache.run(k, lambda f: {"ok": True}).meta == {"ok": True}


def test_the_least_recently_used_results_go_first_beyond_the_limit(tmp_path):
    cache = StageCache(tmp_path / "stages", 2500)

    def sized(folder):
        (folder / "data").write_bytes(b"x" * 1000)
        return {}

    keys = [key("part", i) for i in range(3)]
    for i, k in enumerate(keys[:2]):
        cache.run(k, sized)
        past = time.time() - 100 + i
        os.utime(cache.get(k).folder, (past, past))
    os.utime(cache.get(keys[0]).folder, (time.time() - 10, time.time() - 10))  # used again: newest of the two
    past = time.time() - 100
    os.utime(cache._folder(keys[0]), (time.time() - 10,) * 2)
    os.utime(cache._folder(keys[1]), (past,) * 2)
    cache.run(keys[2], sized)  # 3000 bytes > 2500: the least recently used goes
    assert cache.get(keys[1]) is None
    assert cache.get(keys[0]) is not None and cache.get(keys[2]) is not None
    cache.clear_unfinished()
    assert cache.usage_bytes() <= 2500
