"""Spoken consent for voice profiles (VOICE_CONSENT=spoken, the default), on real speakers: VCTK
p226 and p227 read the same prompts, so the prompt is set to a sentence both really read. The
speaker reading it passes; another speaker reading it fails on the voice; the right speaker reading
another sentence fails on the words; a recording of an earlier prompt fails against a new one. A
refused consent stores no profile and no file."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlmodel import select

from core.errors import InputError
from engines.voice import consent as consent_engine
from storage.library import Actor
from storage.models import ConsentPrompt, SecurityEvent, VoiceProfile, VoiceProfileFile

RAINBOW = "When the sunlight strikes raindrops in the air, they act as a prism and form a rainbow."
TRAIN = "She can scoop these things into three red bags, and we will go meet her Wednesday at the train station."


def _services(settings, url: str):
    from services import build_services

    return build_services(replace(settings, database_url=url, voice_consent="spoken"))


@pytest.fixture
def spoken(settings, tmp_path):
    """SQLite only: the checks listen to real recordings; the storage side runs on both databases below."""
    svc = _services(settings, f"sqlite:///{tmp_path / 'consent.db'}")
    yield svc
    svc.library.engine.dispose()


@pytest.fixture
def spoken_db(settings, db_url):
    svc = _services(settings, db_url)
    yield svc
    svc.library.engine.dispose()


def clip(samples, speaker: str, n: str):
    path = samples / "voices" / speaker / f"{speaker.split('-')[1]}_{n}.flac"
    return path, path.name


def references(samples):
    return [clip(samples, "vctk-p226", n) for n in ("001", "002", "003")]


def prompt_reading(svc, text: str, actor: Actor) -> int:
    """A prompt whose sentence is `text` (one the test speakers really read), made as the product
    makes prompts, for `actor`."""
    return svc.voices.profiles.new_prompt("Test Speaker", text, actor).id


def rows(svc):
    with svc.library.session() as s:
        return (len(s.exec(select(VoiceProfile)).all()), len(s.exec(select(VoiceProfileFile)).all()))


def test_prompts_name_the_speaker_and_differ_every_time(spoken_db):
    a = spoken_db.voices.consent_prompt("Ada Lovelace")
    b = spoken_db.voices.consent_prompt("Ada Lovelace")
    assert a["text"].startswith("My name is Ada Lovelace, and I agree that my voice may be cloned")
    assert a["prompt_id"] != b["prompt_id"] and a["text"] != b["text"]
    words = set(consent_engine._words())
    drawn = a["text"].rstrip(".").split(". ", 1)[1].lower().split(", ")
    assert len(drawn) == consent_engine.PROMPT_WORDS and set(drawn) <= words
    with pytest.raises(InputError, match="speaker's name"):
        spoken_db.voices.consent_prompt("  ")


def test_the_speaker_reading_the_prompt_passes_and_the_consent_is_kept(spoken, samples):
    actor = Actor()
    pid = prompt_reading(spoken, RAINBOW, actor)
    p = spoken.voices.create_profile("p226", references(samples), True, actor,
                                     consent_recording=clip(samples, "vctk-p226", "006"), prompt_id=pid)
    assert p.consent_method == "spoken"
    assert p.consent["prompt"] == RAINBOW and p.consent["wer"] <= consent_engine.MAX_WER
    assert p.consent["similarity"] >= consent_engine.MIN_SIMILARITY
    files = spoken.voices.profiles.files(p.id)
    assert [f.name for f in files if f.role == "consent"] == ["p226_006.flac"]
    assert "p226_006.flac" not in [name for _, name in spoken.voices.profiles.reference_paths(p)]
    with spoken.library.session() as s:
        assert s.get(ConsentPrompt, pid).used_at is not None
        events = {e.type: e.detail for e in s.exec(select(SecurityEvent)).all()}
    assert events["voice_consent"]["method"] == "spoken" and events["voice_consent_check"]["ok"] is True
    # A prompt is read once.
    with pytest.raises(InputError, match="already used"):
        spoken.voices.create_profile("again", references(samples), True, actor,
                                     consent_recording=clip(samples, "vctk-p226", "006"), prompt_id=pid)


def test_another_speaker_reading_the_prompt_is_refused_on_the_voice(spoken, samples):
    actor = Actor()
    pid = prompt_reading(spoken, RAINBOW, actor)
    before = rows(spoken)
    with pytest.raises(InputError, match="not the voice of the references") as e:
        spoken.voices.create_profile("p226", references(samples), True, actor,
                                     consent_recording=clip(samples, "vctk-p227", "006"), prompt_id=pid)
    assert "does not say" not in str(e.value)  # p227 did read the words
    assert rows(spoken) == before


def test_the_right_speaker_reading_another_sentence_is_refused_on_the_words(spoken, samples):
    actor = Actor()
    pid = prompt_reading(spoken, RAINBOW, actor)
    with pytest.raises(InputError, match="does not say the consent sentence") as e:
        spoken.voices.create_profile("p226", references(samples), True, actor,
                                     consent_recording=clip(samples, "vctk-p226", "005"), prompt_id=pid)
    assert "not the voice" not in str(e.value)
    assert rows(spoken) == (0, 0)


def test_an_earlier_consent_recording_does_not_pass_a_new_prompt(spoken, samples):
    """The replay: p226_005 was the consent for an earlier prompt; a new prompt has new words."""
    actor = Actor()
    first = prompt_reading(spoken, TRAIN, actor)
    spoken.voices.create_profile("first", references(samples), True, actor,
                                 consent_recording=clip(samples, "vctk-p226", "005"), prompt_id=first)
    new = spoken.voices.consent_prompt("Test Speaker", actor)
    with pytest.raises(InputError, match="does not say the consent sentence"):
        spoken.voices.create_profile("replayed", references(samples), True, actor,
                                     consent_recording=clip(samples, "vctk-p226", "005"),
                                     prompt_id=new["prompt_id"])
    assert [p.name for p in spoken.voices.profiles.list(actor)] == ["first"]


def test_spoken_consent_needs_a_prompt_of_ones_own(spoken_db, samples):
    svc = spoken_db
    alice = svc.accounts.create_user("alice", "alice-password")
    bob = svc.accounts.create_user("bob", "bob-password")
    pid = prompt_reading(svc, RAINBOW, Actor(alice.id, "alice"))
    with pytest.raises(InputError, match="consent_prompt"):
        svc.voices.create_profile("p226", references(samples), True, Actor(bob.id, "bob"))
    with pytest.raises(InputError, match="there is no consent prompt"):
        svc.voices.create_profile("p226", references(samples), True, Actor(bob.id, "bob"),
                                  consent_recording=clip(samples, "vctk-p226", "006"), prompt_id=pid)
    with pytest.raises(InputError, match="there is no consent prompt"):
        svc.voices.create_profile("p226", references(samples), True, Actor(bob.id, "bob"),
                                  consent_recording=clip(samples, "vctk-p226", "006"), prompt_id="x")
    assert rows(svc) == (0, 0)


def test_without_speech_recognition_the_typed_sentence_is_an_attestation(spoken, samples, monkeypatch):
    monkeypatch.setattr(type(spoken.voices), "_transcriber", lambda self: None)
    actor = Actor()
    prompt = spoken.voices.consent_prompt("Test Speaker", actor)
    with pytest.raises(InputError, match="type the consent sentence"):
        spoken.voices.create_profile("p226", references(samples), True, actor, prompt_id=prompt["prompt_id"],
                                     attestation="I agree")
    p = spoken.voices.create_profile("p226", references(samples), True, actor, prompt_id=prompt["prompt_id"],
                                     attestation=prompt["text"].upper())
    assert p.consent_method == "attested" and "not verified" in p.consent["how"]
