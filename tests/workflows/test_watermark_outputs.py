"""Every sound a job makes carries the studio's watermark, naming its generation: speech (WAV), a song
(WAV, MP3 and stems) and the picture and audio of a video; /verify_media's reading names the generation for the
owner, after MP3 re-encoding too, and says "not made here" for a real recording."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from core.audio import Audio
from storage.library import Actor
from workflows.trust import GENERATION_BITS, verify_media

SENTENCES = ("The harbour lights came on one by one as the fishing boats returned to the quay. "
             "Nobody on the pier said a word while the last boat turned slowly toward the lamp. "
             "Then the bell rang twice, and the whole town seemed to breathe again at last.")


def read(services, path) -> tuple[bool, int | None]:
    found = services.jobs.mark_outputs.read(Audio.read(path))
    return found.marked, found.generation_id


def test_speech_is_marked_with_its_generation_and_verified(services, samples, tmp_path):
    done, result = services.voices.speak(SENTENCES)
    (wav,) = [a for a in done.outputs if a.ext == ".wav"]
    path = services.library.asset_path(wav)
    assert read(services, path) == (True, done.generation.id % 2 ** GENERATION_BITS)
    assert wav.meta["watermark"]["generation_id"] == done.generation.id
    # The stored speech is what the figures describe: the mark does not change its loudness.
    assert result.metrics["loudness_lufs"] == pytest.approx(-16, abs=0.5)

    mp3 = tmp_path / "copy.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), "-b:a", "128k", str(mp3)], check=True)
    report = verify_media(mp3, "copy.mp3", services.jobs.mark_outputs, services.library, services.accounts, Actor())
    assert report["made_here"] and report["generation_id"] == done.generation.id
    assert report["kind"] == "speak" and report["model_licence"] and report["confidence"] >= 6

    real = samples / "voices" / "librispeech-1998"
    joined = Audio.concat([Audio.read(p) for p in sorted(real.glob("*.flac"))[:3]])
    joined.write(tmp_path / "real.wav")
    report = verify_media(tmp_path / "real.wav", "real.wav", services.jobs.mark_outputs, services.library,
                          services.accounts, Actor())
    assert not report["made_here"] and report["verdict"].startswith("not made here")


def test_who_made_it_is_told_only_to_them(services):
    alice = services.accounts.create_user("alice", "alice-password")
    bob = services.accounts.create_user("bob", "bob-password")
    done, _ = services.voices.speak(SENTENCES, actor=Actor(alice.id, "alice"))
    (wav,) = [a for a in done.outputs if a.ext == ".wav"]
    path = services.library.asset_path(wav)
    args = (path, "speech.wav", services.jobs.mark_outputs, services.library, services.accounts)
    assert verify_media(*args, Actor(alice.id, "alice"))["made_by"] == "alice"
    for_bob = verify_media(*args, Actor(bob.id, "bob"))
    assert for_bob["made_here"] and for_bob["generation_id"] == done.generation.id and "made_by" not in for_bob


def test_a_song_and_its_mp3_are_marked(sqlite_services):
    """Every audio file of the song goes through the marking (the stems too: one with little sound above
    3 kHz, such as a bass line, may hold too little of the mark to be read alone); the song is read."""
    svc = sqlite_services
    done, _ = svc.music.compose("a lighthouse in the storm", "Lamp", music_style="pop", duration_s=16, seed=1)
    audio = [a for a in done.outputs if a.kind.value == "audio"]
    assert {a.ext for a in audio} >= {".wav", ".mp3", ".flac"}
    assert all(a.meta.get("watermark", {}).get("generation_id") == done.generation.id for a in audio)
    for a in audio:
        if a.meta.get("role") in ("song", "song-mp3"):
            assert read(svc, svc.library.asset_path(a)) == (True, done.generation.id), a.name


def test_a_video_is_marked_in_its_picture_and_sound_and_verified(sqlite_services, tmp_path):
    """The picture carries the mark too (encoded again at the studio's settings: the file keeps its
    format); /verify_media reads it from a cropped, scaled copy, and from a copy without sound."""
    import numpy as np

    from core.probe import probe_media

    svc = sqlite_services
    sr = 22_050
    t = np.arange(int(sr * 6.0)) / sr
    wav = tmp_path / "tone.wav"
    Audio((0.2 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 1.5 * t))).astype(np.float32),
          sr).write(wav)
    portrait = Path(__file__).resolve().parents[1] / "data" / "portraits" / "art_0.png"
    done = svc.video.scene_video((wav, wav.name), "emotional_closeup", [(portrait, portrait.name)], "", "640x360", 24)
    video = next(a for a in done.outputs if a.kind.value == "video")
    path = svc.library.asset_path(video)
    assert video.meta["watermark"]["generation_id"] == done.generation.id
    info = probe_media(path)
    assert (info["width"], info["height"], info["video_codec"], info["pix_fmt"]) == (640, 360, "h264", "yuv420p")
    assert info["audio_codec"] == "aac" and info["faststart"] and abs(info["video_duration_s"] - 6.0) <= 1 / 24 + 1e-3
    found = svc.jobs.mark_outputs.read_video(path)
    assert found.marked and found.generation_id == done.generation.id

    args = (svc.jobs.mark_outputs, svc.library, svc.accounts, Actor())
    copy = tmp_path / "copy.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), "-vf", "crop=iw*0.9:ih*0.9:0:0,scale=854:480",
                    "-c:v", "libx264", "-crf", "28", "-c:a", "aac", str(copy)], check=True)
    report = verify_media(copy, "copy.mp4", *args)
    assert report["made_here"] and report["generation_id"] == done.generation.id
    assert report["video_watermark"]["marked"] and report["video_watermark"]["generation_id"] == done.generation.id
    silent = tmp_path / "silent.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), "-an", "-c:v", "copy", str(silent)], check=True)
    report = verify_media(silent, "silent.mp4", *args)
    assert report["made_here"] and report["method"] == "video watermark"
    assert report["generation_id"] == done.generation.id
