"""The clone chain: a portrait, a real voice sample and an idea -> a video whose parts line up; an edit of the
script makes again only the part it is in; a chain that failed at a stage starts again at that stage."""

from __future__ import annotations

import pytest

from core.audio import Audio
from core.errors import InputError
from storage.library import Actor
from tests.conftest import MODELS_DIR, SAMPLES, TEST_VOICE_CONSENT, voice_clips

IDEA = "why bees matter for our food"


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    from services import build_services
    from settings import Settings

    data = tmp_path_factory.mktemp("clone") / "data"
    return build_services(Settings(data_dir=data, models_dir=MODELS_DIR, voice_consent=TEST_VOICE_CONSENT))


def _generations(svc) -> int:
    from sqlmodel import select

    from storage.models import Generation

    with svc.library.session() as s:
        return len(s.exec(select(Generation)).all())


@pytest.fixture(scope="module")
def made(services):
    svc = services
    portrait = SAMPLES / "portraits" / "art_0.png"
    sample = voice_clips("vctk-p226")[2]
    first = svc.clones.make((portrait, "art_0.png"), "default", IDEA, length_s=15, music_style="emotional",
                            voice_sample=(sample, sample.name), likeness_consent=True)
    return svc, first, (portrait, sample)


def _by_role(done):
    return {a.meta.get("role"): a for a in done.outputs if a.meta.get("role") != "captions"}


def test_the_parts_line_up(made):
    from core.probe import probe_media

    svc, done, _ = made
    lib, g = svc.library, done.generation
    parts = _by_role(done)
    assert {"video", "script", "narration", "music", "head"} <= set(parts)
    narration = Audio.read(lib.asset_path(parts["narration"]))
    video, head = (probe_media(lib.asset_path(parts[k]), count_frames=True) for k in ("video", "head"))
    # The talking head is exactly as long as the narration, to the frame; so is the video.
    assert head["frames"] == video["frames"] == g.metrics["frames"] == round(narration.duration_s * 30)
    assert g.metrics["parts"] == len(g.metrics["timeline"]) >= 5  # hook, 3 points, close
    assert g.metrics["word_error_rate"] is not None and g.metrics["word_error_rate"] <= 0.25
    assert g.params["likeness_consent"] is True and g.kind == "clone_video"
    # Captions follow the words: every caption starts inside its part's time and in order.
    srt = next(a for a in done.outputs if a.name.endswith(".srt"))
    text = lib.asset_path(srt).read_text(encoding="utf-8")
    assert "bees" in text.lower()
    assert g.metrics["captions"] >= 5
    # The presenter never covers the slides: side panel beside the slide columns.
    x, y, w, h = g.metrics["presenter_box"]
    assert g.metrics["slide_columns"][1] <= x


def test_what_it_returns_carries_its_own_generations_marks(made, tmp_path):
    """Parts kept from earlier runs are unmarked; the video, its sound and the parts returned carry this
    generation's watermark (found again after an MP3 copy stripped the manifest)."""
    import subprocess

    from engines.trust.video_watermark import read_file
    from workflows.trust import GENERATION_BITS, verify_media

    svc, done, _ = made
    marks, lib, gid = svc.jobs.mark_outputs, svc.library, done.generation.id
    parts = _by_role(done)
    for role in ("narration", "music"):
        found = marks.read(Audio.read(lib.asset_path(parts[role])))
        assert (found.marked, found.generation_id) == (True, gid % 2 ** GENERATION_BITS), role
    video = lib.asset_path(parts["video"])
    assert read_file(video, marks.key).payload == marks.payload(gid)  # the picture
    head = lib.asset_path(parts["head"])  # the talking head: its picture and its sound, each marked once
    assert read_file(head, marks.key).payload == marks.payload(gid)
    from workflows.trust import _audio_of

    found = marks.read(_audio_of(head, lib))
    assert (found.marked, found.generation_id) == (True, gid % 2 ** GENERATION_BITS)
    mp3 = tmp_path / "copy.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-vn", "-b:a", "128k", str(mp3)], check=True)
    report = verify_media(mp3, "copy.mp3", marks, lib, svc.accounts, Actor())
    assert report["made_here"] and report["generation_id"] == gid and report["kind"] == "clone_video"


def test_a_one_word_edit_makes_only_its_part_again(made):
    svc, first, (portrait, sample) = made
    script = svc.library.asset_path(_by_role(first)["script"]).read_text(encoding="utf-8")
    edited = script.replace("Thanks for watching.", "Thanks for listening.", 1)  # a part of two sentences
    assert edited != script
    again = svc.clones.make((portrait, "art_0.png"), "default", edited, length_s=15,
                            voice_sample=(sample, sample.name), likeness_consent=True)
    m = again.generation.metrics
    assert m["stages_run"]["speech"] == 1 and m["stages_reused"]["speech"] == m["parts"] - 1
    # In that part, only the edited sentence spoken and listened to again; its others kept from the first run.
    assert m["stages_run"]["sentence"] == 1 and m["stages_reused"]["sentence"] >= 1, m["stages_reused"]
    assert m["stages_run"]["head"] == 1  # the changed part; the end card's silent head is kept too
    assert m["stages_run"]["slides"] == 0 and m["stages_run"]["music"] == 0
    assert m["stage_seconds"]["head"] < first.generation.metrics["stage_seconds"]["head"]
    # The video: only the changed part's segment drawn and encoded again, the others joined as they were.
    assert m["stages_run"]["segment"] == 1 and m["stages_reused"]["segment"] == m["parts"]  # and the end card
    assert m["stage_seconds"]["video"] < first.generation.metrics["stage_seconds"]["video"]
    from core.probe import probe_media
    from engines.trust.video_watermark import read_file

    lib, marks = svc.library, svc.jobs.mark_outputs
    video = lib.asset_path(_by_role(again)["video"])
    narration = Audio.read(lib.asset_path(_by_role(again)["narration"]))
    assert probe_media(video, count_frames=True)["frames"] == m["frames"] == round(narration.duration_s * 30)
    # Its picture is the first version's, so the mark in it names that version; the sound and the manifest
    # name this one.
    assert m["picture_mark_generation"] == first.generation.id
    assert read_file(video, marks.key).payload == marks.payload(first.generation.id)
    found = marks.read(narration)
    assert found.marked and found.generation_id == again.generation.id
    from workflows.trust import verify_media

    report = verify_media(video, "edited.mp4", marks, lib, svc.accounts, Actor())
    assert report["generation_id"] == again.generation.id and report["picture_generation_id"] == first.generation.id
    assert f"reused from generation {first.generation.id}" in report["verdict"]
    # The talking head output: only the changed part's picture marked again (with the first version's mark, as
    # the video's picture), joined with the new sound.
    assert m["stages_run"]["head_marked"] == 1 and m["stages_reused"]["head_marked"] == m["parts"]
    head = lib.asset_path(_by_role(again)["head"])
    assert probe_media(head, count_frames=True)["frames"] == m["frames"]
    assert read_file(head, marks.key).payload == marks.payload(first.generation.id)
    from workflows.trust import _audio_of

    found = marks.read(_audio_of(head, lib))
    assert found.marked and found.generation_id == again.generation.id


def test_a_chain_that_failed_at_the_music_starts_again_there(made, monkeypatch):
    svc, first, (portrait, sample) = made
    from workflows import clone

    def broken(self, duration_s):
        raise InputError("the music bed failed")

    monkeypatch.setattr(clone._Chain, "music", broken)
    with pytest.raises(InputError):
        svc.clones.make((portrait, "art_0.png"), "default", "how tides work", length_s=10, music_style="epic",
                        voice_sample=(sample, sample.name), likeness_consent=True)
    failed = svc.library.list_generations(first.generation.project_id)[0]
    assert failed["status"] == "failed" and failed["kind"] == "clone_video"
    monkeypatch.undo()
    resumed = svc.rerun(failed["id"], {}, actor=Actor())
    m = resumed.generation.metrics
    # Script, speech and slides were made before the failure: all kept; the music, and the heads after it, are
    # made now.
    run = dict(m["stages_run"])
    assert run.pop("segment") + m["stages_reused"]["segment"] == m["parts"] + 1  # the video, not made before
    assert run.pop("head_marked") + m["stages_reused"]["head_marked"] == m["parts"] + 1  # the head output's picture
    assert run.pop("head") + m["stages_reused"]["head"] == m["parts"] + 1
    assert run == {"script": 0, "voice": 0, "speech": 0, "slides": 0, "music": 1}, m


@pytest.mark.parametrize("change,message", [
    ({"kind": "opera"}, "kind 'opera' is not offered"),
    ({"length_s": 2}, "10 to 300 seconds"),
    ({"music_style": "polka"}, "polka"),
    ({"template": "nope"}, "nope"),
    ({"size": "12x12"}, "outside 144"),
    ({"voice": "profile:999999"}, "there is no"),
    ({"idea": "## A point\nNotes: " + "x" * 20_001}, "part 1 of the script has 20,001"),
])
def test_bad_requests_are_refused_before_anything_is_stored(services, change, message):
    svc, portrait = services, SAMPLES / "portraits" / "art_0.png"
    before = _generations(svc)
    args = {"idea": IDEA, "kind": "explainer", "length_s": 20, "music_style": "emotional", "template": "",
            "size": "1280x720", "voice": "default", **change}
    with pytest.raises(InputError, match=message):
        svc.clones.make((portrait, "art_0.png"), args.pop("voice"), args.pop("idea"), **args, likeness_consent=True)
    with pytest.raises(InputError, match="likeness"):
        svc.clones.make((portrait, "art_0.png"), "default", IDEA, likeness_consent=False)
    assert _generations(svc) == before


def test_a_music_video_clone_sings_a_song_on_the_idea(made):
    from core.probe import probe_media

    svc, _, (portrait, sample) = made
    done = svc.clones.make((portrait, "art_0.png"), "default", "a lighthouse keeper in a storm", kind="music_video",
                           length_s=12, music_style="epic", voice_sample=(sample, sample.name), likeness_consent=True)
    g, lib = done.generation, svc.library
    parts = {a.meta.get("role"): a for a in done.outputs if a.name.endswith((".mp4", ".wav", "lyrics.txt"))}
    assert g.metrics["kind"] == "music_video" and g.metrics["bpm"] > 0
    lyrics = lib.asset_path(parts["script"]).read_text(encoding="utf-8")
    assert "[Chorus]" in lyrics and len(lyrics.splitlines()) >= 8
    video, head = (probe_media(lib.asset_path(parts[k]), count_frames=True) for k in ("video", "head"))
    assert video["frames"] == head["frames"] == 360  # 12 s at 30 fps, the song's length
    from engines.trust.video_watermark import read_file

    marks = svc.jobs.mark_outputs
    for role in ("video", "head"):  # the head output made beside the video, with the job's marks
        assert read_file(lib.asset_path(parts[role]), marks.key).payload == marks.payload(g.id), role
    vocals = Audio.read(lib.asset_path(parts["narration"]))
    assert abs(vocals.duration_s - 12.0) < 0.05 and float(abs(vocals.samples).max()) > 0.05  # sung
    assert any(a.name.endswith(".lrc") for a in done.outputs)
    with pytest.raises(InputError, match="music style"):
        svc.clones.make((portrait, "art_0.png"), "default", "storms", kind="music_video", music_style="none",
                        likeness_consent=True)
