"""A request's downloads are made once: one private folder per request, named for its user, each
stored file copied into it once, under a friendly name."""

from __future__ import annotations

from storage.library import Actor
from tabs.access import copy_owner
from tabs.common import Downloads, download_copy


def test_one_folder_per_request_and_one_copy_per_file(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    song, video, other = tmp_path / "a.wav", tmp_path / "b.mp4", tmp_path / "c.wav"
    for p in (song, video, other):
        p.write_bytes(p.name.encode())

    out = Downloads(Actor(user_id=7))
    first = out.copy(song, "My song.wav")
    assert out.copy(song, "My song.wav") == first  # handed out twice, copied once
    deck = out.copy(video, "deck/../../talk")  # made safe, the extension kept
    clash = out.copy(other, "My song.wav")  # another file by the same name
    zipped = out.folder / "stems.zip"
    (folder,) = cache.iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["My song (2).wav", "My song.wav", "talk.mp4"]
    assert {first, deck, clash} == {str(folder / n) for n in ("My song.wav", "talk.mp4", "My song (2).wav")}
    assert zipped.parent == folder and copy_owner(first) == 7 and folder.name.startswith("dl-u7-")
    assert (folder / "My song (2).wav").read_bytes() == b"c.wav"

    assert Downloads(Actor(user_id=7)).copy(song, "x.wav") != first and len(list(cache.iterdir())) == 2
    assert copy_owner(download_copy(song, "x.wav", Actor(user_id=8))) == 8 and len(list(cache.iterdir())) == 3
