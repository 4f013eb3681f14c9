"""Talking heads as recorded jobs: from an audio file or from text in a voice; bad input."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import soundfile as sf

from core.errors import InputError


def probe(path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name,pix_fmt",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def short_speech(samples, tmp_path, seconds=3.0):
    src = sorted((samples / "voices" / "librispeech-1998").glob("*.flac"))[0]
    y, sr = sf.read(str(src))
    out = tmp_path / "speech.wav"
    sf.write(out, y[: int(seconds * sr)], sr)
    return out


def test_portrait_and_audio_make_a_video_of_the_same_length(services, samples, tmp_path):
    wav = short_speech(samples, tmp_path)
    done = services.talking_heads.render((samples / "portraits" / "art_1.png", "art_1.png"), (wav, wav.name),
                                         size=256, fps=25, still=True, likeness_consent=True)
    g = done.generation
    assert g.kind == "talking_head" and g.status.value == "succeeded" and g.backend == "embedded"
    (video,) = [a for a in done.outputs if a.kind.value == "video"]
    info = probe(services.library.asset_path(video))
    assert {s["codec_name"] for s in info["streams"]} == {"h264", "aac"}
    assert float(info["format"]["duration"]) == pytest.approx(3.0, abs=1 / 25 + 0.03)
    (row,) = services.library.list_generations(g.project_id)
    kinds = sorted(services.library.get_asset(a).kind.value for a in row["inputs"])
    assert kinds == ["audio", "photo"]


def test_text_is_spoken_first_in_the_chosen_voice(services, samples):
    done = services.talking_heads.render((samples / "portraits" / "art_0.png", "art_0.png"), None,
                                         "Hello, I am speaking from a photo.", "en-gb", size=256, fps=30,
                                         likeness_consent=True)
    audio = [a for a in done.outputs if a.kind.value == "audio"]
    video = [a for a in done.outputs if a.kind.value == "video"]
    assert len(audio) == 1 and len(video) == 1
    assert video[0].duration_s == pytest.approx(audio[0].duration_s, abs=1 / 30 + 0.03)
    assert done.generation.params["voice"] == "en-gb"
    # Under the licences of the voice that spoke and of the face engine.
    assert done.generation.model_licence.startswith("Apache-2.0") and "GPL" in done.generation.model_licence


def test_bad_input_is_clear(services, samples, tmp_path):
    th, lib = services.talking_heads, services.library
    photo = (samples / "portraits" / "art_1.png", "art_1.png")
    wav = short_speech(samples, tmp_path, 1.0)
    with pytest.raises(InputError, match="give the speech"):
        th.render(photo, None, "")
    with pytest.raises(InputError, match="size must be"):
        th.render(photo, (wav, wav.name), size=300)
    with pytest.raises(InputError, match="fps must be 25 or 30"):
        th.render(photo, (wav, wav.name), fps=60)
    with pytest.raises(InputError, match="not photo"):
        th.render((wav, wav.name), (wav, wav.name), likeness_consent=True)
    # Refused after the portrait passed intake: the portrait is not stored either.
    fake = tmp_path / "recording.wav"
    fake.write_text("not a recording")
    with pytest.raises(InputError, match="named as audio"):
        th.render(photo, (fake, fake.name), likeness_consent=True)
    with pytest.raises(InputError, match="at most 20,000"):
        th.render(photo, None, "word " * 5000, likeness_consent=True)
    with pytest.raises(InputError, match="expression must be between 0 and 2"):
        th.render(photo, (wav, wav.name), expression=5.0, likeness_consent=True)
    assert lib.list_projects() == [] and [f for f in lib.store.root.rglob("*") if f.is_file()] == []
    blank = tmp_path / "wall.png"
    from PIL import Image

    Image.fromarray(np.full((300, 300, 3), 128, np.uint8)).save(blank)
    with pytest.raises(InputError, match="no face"):
        th.render((blank, blank.name), (wav, wav.name), size=256, likeness_consent=True)


def test_the_encoders_files_lie_in_the_jobs_scratch_folder(sqlite_services, samples, tmp_path):
    """The talking head's encoder works in the job's own folder (DATA_DIR/scratch/job.../tmp), which
    is gone once the job is stored."""
    scratch = sqlite_services.settings.scratch_dir
    wav = short_speech(samples, tmp_path, 1.0)
    seen = []

    def progress(done, total, message=""):
        if "frame" in message and not seen:
            seen.extend(str(p.relative_to(scratch)) for p in scratch.rglob("audio.wav"))

    sqlite_services.talking_heads.render((samples / "portraits" / "art_1.png", "art_1.png"), (wav, wav.name),
                                         size=256, fps=25, still=True, progress=progress, likeness_consent=True)
    (wav_seen,) = seen
    job, tmp, encoder, _ = wav_seen.split("/")
    assert job.startswith("job") and tmp == "tmp" and encoder.startswith("video-encode-")
    assert list(scratch.iterdir()) == []


def test_a_portrait_needs_the_users_word_on_its_likeness(sqlite_services, samples, tmp_path):
    """Without the attestation nothing is stored; with it, it is kept with the generation and logged with
    the portrait's hash (a deck's presenter the same)."""
    svc, lib = sqlite_services, sqlite_services.library
    photo = (samples / "portraits" / "art_1.png", "art_1.png")
    wav = short_speech(samples, tmp_path)
    before = len(lib.list_generations(lib.project_or_default(None).id))
    for refused in (False, None, "yes", 1):
        with pytest.raises(InputError, match="confirm that you may use this likeness"):
            svc.talking_heads.render(photo, (wav, wav.name), size=256, still=True, likeness_consent=refused)
    with pytest.raises(InputError, match="the presenter photo animates a real person's face"):
        svc.slides.make_deck("# Hi\n\n## One\n- two\n", presenter=photo)
    assert len(lib.list_generations(lib.project_or_default(None).id)) == before
    assert lib.security_events(10, "likeness") == []

    done = svc.talking_heads.render(photo, (wav, wav.name), size=256, still=True, likeness_consent=True)
    assert done.generation.params["likeness_consent"] is True
    (event,) = lib.security_events(10, "likeness_attestation")
    (row,) = [g for g in lib.list_generations(done.generation.project_id) if g["id"] == done.generation.id]
    portrait = next(lib.get_asset(i) for i in row["inputs"] if lib.get_asset(i).kind.value == "photo")
    assert event.detail == {"generation_id": done.generation.id, "kind": "talking_head", "photo": "art_1.png",
                            "sha256": portrait.sha256}
