"""Any past generation runs again from its stored parameters and input files, with some changed: a new
generation in the same project, the old one kept; what cannot change is refused by name."""

from __future__ import annotations

import pytest
import soundfile as sf

from core.errors import InputError
from storage.library import Actor, NotFound


def test_speech_runs_again_slower_and_the_first_is_kept(sqlite_services):
    svc = sqlite_services
    first, _ = svc.voices.speak("One sentence, said twice over at two speeds.", "en-us", speed=1.2)
    again = svc.rerun(first.generation.id, {"speed": 0.8}, actor=Actor())
    g = again.generation
    assert g.id != first.generation.id and g.kind == "speak" and g.project_id == first.generation.project_id
    assert g.params["speed"] == 0.8 and g.params["text"] == first.generation.params["text"]
    (wav1,), (wav2,) = ([a for a in d.outputs if a.ext == ".wav"] for d in (first, again))
    d1 = sf.info(svc.library.asset_path(wav1)).duration
    d2 = sf.info(svc.library.asset_path(wav2)).duration
    assert d2 > d1 * 1.2, (d1, d2)  # 0.8 against 1.2: the words take longer
    kinds = [r["id"] for r in svc.library.list_generations(g.project_id)]
    assert kinds == [g.id, first.generation.id]


def test_a_talking_head_reuses_its_stored_portrait_and_speech(sqlite_services, samples, tmp_path):
    from core.audio import Audio

    svc = sqlite_services
    wav = tmp_path / "speech.wav"
    Audio(Audio.read(sorted((samples / "voices" / "librispeech-1998").glob("*.flac"))[0]).samples[: 2 * 16000],
          16000).write(wav)
    first = svc.talking_heads.render((samples / "portraits" / "art_1.png", "art_1.png"), (wav, "speech.wav"),
                                     size=256, fps=25, still=True, likeness_consent=True)
    again = svc.rerun(first.generation.id, {"fps": 30}, actor=Actor())
    lib = svc.library
    rows = {r["id"]: r for r in lib.list_generations(first.generation.project_id)}
    sha = {gid: sorted(lib.get_asset(i).sha256 for i in rows[gid]["inputs"]) for gid in rows}
    assert sha[again.generation.id] == sha[first.generation.id]  # the same portrait and speech
    assert again.generation.params["fps"] == 30 and again.generation.params["likeness_consent"] is True
    (video,) = [a for a in again.outputs if a.kind.value == "video"]
    assert video.meta["fps"] == 30


def test_what_a_rerun_cannot_change_is_refused_by_name(sqlite_services):
    svc = sqlite_services
    first, _ = svc.voices.speak("Hello there.", "en-us")
    before = len(svc.library.list_generations(first.generation.project_id))
    with pytest.raises(InputError, match="cannot change project_id, sample_rate; it can change: text, voice"):
        svc.rerun(first.generation.id, {"sample_rate": 8000, "project_id": 3}, actor=Actor())
    with pytest.raises(InputError, match="speed must be between"):
        svc.rerun(first.generation.id, {"speed": 9}, actor=Actor())
    from workflows.rerun import parse_overrides

    with pytest.raises(InputError, match="not valid JSON"):
        parse_overrides("{speed: 1}")
    with pytest.raises(InputError, match="must be a JSON object"):
        parse_overrides("[1, 2]")
    assert parse_overrides("") == {} and parse_overrides('{"speed": 0.9}') == {"speed": 0.9}
    assert len(svc.library.list_generations(first.generation.project_id)) == before


def test_only_who_may_add_to_the_project_reruns(sqlite_services):
    svc = sqlite_services
    alice = svc.accounts.create_user("alice", "alice-password")
    bob = svc.accounts.create_user("bob", "bob-password")
    mine, _ = svc.voices.speak("Alice speaks.", "en-us", actor=Actor(alice.id, "alice"))
    with pytest.raises(NotFound):
        svc.rerun(mine.generation.id, actor=Actor(bob.id, "bob"))
    svc.sharing.share_project(mine.generation.project_id, "bob", "viewer", Actor(alice.id, "alice"))
    with pytest.raises(Exception, match="shared with you as viewer"):
        svc.rerun(mine.generation.id, actor=Actor(bob.id, "bob"))
