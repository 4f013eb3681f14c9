"""Voice endpoints through gradio_client against the running app."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf
from gradio_client import handle_file

CONTRACT = {
    "/speak": ["text", "voice", "style", "backend", "speed", "pitch_semitones", "project_id"],
    "/clone_voice": ["reference_audio", "text", "style", "project_id"],
    "/create_voice": ["name", "reference_audio", "consent", "consent_recording", "prompt_id", "attestation"],
    "/consent_prompt": ["speaker"],
    "/list_voices": [],
}


def test_voice_endpoint_names_and_parameters_are_stable(client):
    named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for name, params in CONTRACT.items():
        assert [p["parameter_name"] for p in named[name]["parameters"]] == params, name
    defaults = {p["parameter_name"]: p["parameter_default"] for p in named["/speak"]["parameters"]}
    assert defaults == {"text": None, "voice": "default", "style": "natural", "backend": "auto", "speed": 1.0,
                        "pitch_semitones": 0, "project_id": None}


def test_speak_returns_speech(client, assert_signed):
    p = client.predict(name="Voice API", api_name="/create_project")
    path = client.predict(text="Hello from the client API. It speaks two sentences.", voice="en-us+f2",
                          style="soprano", speed=1.1, project_id=p["id"], api_name="/speak")
    info = sf.info(path)
    assert 2.0 < info.duration < 8.0 and info.samplerate == 24000
    (gen,) = client.predict(project_id=p["id"], api_name="/list_generations")
    assert gen["status"] == "succeeded" and gen["params"]["style"] == "soprano"
    assert assert_signed(path, "speak") == gen["id"]


@pytest.mark.parametrize("kwargs, message", [
    ({"text": ""}, "empty"),
    ({"text": "word " * 25_000}, "characters"),
    ({"text": "Hi.", "voice": "klingon"}, "unknown voice"),
    ({"text": "Hi.", "speed": 9}, "speed must be between"),
])
def test_speak_refuses_bad_input_clearly(client, kwargs, message):
    with pytest.raises(Exception, match=message):
        client.predict(**kwargs, api_name="/speak")


def test_create_voice_list_and_speak_with_it(client, samples, assert_signed):
    flac = sorted((samples / "voices" / "librispeech-1998").glob("*.flac"))[0]
    with pytest.raises(Exception, match="consent"):
        client.predict(name="No consent", reference_audio=handle_file(str(flac)), consent=False,
                       api_name="/create_voice")
    prof = client.predict(name="Reader 1998", reference_audio=handle_file(str(flac)), consent=True,
                          api_name="/create_voice")
    assert prof["voice"] == f"profile:{prof['id']}" and prof["references"][0]["name"] == flac.name
    listed = client.predict(api_name="/list_voices")
    assert [v["id"] for v in listed["profiles"]] == [prof["id"]]
    assert listed["backends"]["embedded"]["available"] is True
    assert listed["backends"]["bark"]["available"] is False and listed["backends"]["bark"]["reason"]
    out = client.predict(text="My cloned voice says hello.", voice=prof["voice"], api_name="/speak")
    assert sf.info(out).duration > 1.0
    assert_signed(out, "speak")


def test_clone_voice_in_one_call(client, samples, tmp_path, assert_signed):
    flac = sorted((samples / "voices" / "librispeech-1688").glob("*.flac"))[1]
    out = client.predict(reference_audio=handle_file(str(flac)), text="One call, one cloned sentence.",
                         api_name="/clone_voice")
    assert sf.info(out).duration > 1.0
    assert_signed(out, "clone_voice")
    fake = tmp_path / "notes.wav"
    fake.write_text("not audio at all")
    with pytest.raises(Exception, match="named as audio"):
        client.predict(reference_audio=handle_file(str(fake)), text="Hi.", api_name="/clone_voice")
    assert Path(out).suffix == ".wav"


def test_talking_head_endpoint(client, samples, tmp_path, assert_signed):
    import json
    import subprocess

    named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert [p["parameter_name"] for p in named["/talking_head"]["parameters"]] == [
        "portrait", "audio", "text", "voice", "size", "fps", "still", "project_id", "likeness_consent"]
    out = client.predict(portrait=handle_file(str(samples / "portraits" / "art_1.png")),
                         text="Hello from a talking painting.", size=256, likeness_consent=True,
                         api_name="/talking_head")
    info = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width",
                                      "-of", "json", out], capture_output=True, text=True).stdout)
    assert {(s["codec_name"], s.get("width")) for s in info["streams"]} == {("h264", 256), ("aac", None)}
    assert_signed(out, "talking_head")
    with pytest.raises(Exception, match="not photo"):
        client.predict(portrait=handle_file(str(next(samples.rglob("*.flac")))), text="Hi.",
                       api_name="/talking_head")


@pytest.fixture(scope="module")
def spoken_client(tmp_path_factory):
    """The app with the product's default spoken consent (the shared test app ticks consent)."""
    from gradio_client import Client

    from tests.conftest import AppProcess, free_port

    app = AppProcess(tmp_path_factory.mktemp("spoken-consent") / "data", free_port(), env={"VOICE_CONSENT": "spoken"})
    yield Client(app.url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))
    app.stop()


def test_spoken_consent_through_the_api(spoken_client, samples):
    """A prompt is given; a profile without the speaker's reading, or with a reading of other words,
    is refused with what to do, and nothing is stored."""
    from gradio_client.exceptions import AppError

    c = spoken_client
    prompt = c.predict(speaker="Test Speaker", api_name="/consent_prompt")
    assert prompt["text"].startswith("My name is Test Speaker, and I agree") and prompt["prompt_id"]
    ref = handle_file(str(samples / "voices" / "vctk-p226" / "p226_003.flac"))
    with pytest.raises(AppError, match="consent_prompt"):
        c.predict(name="No reading", reference_audio=ref, consent=True, api_name="/create_voice")
    other_words = handle_file(str(samples / "voices" / "vctk-p226" / "p226_006.flac"))
    with pytest.raises(AppError, match="does not say the consent sentence"):
        c.predict(name="Other words", reference_audio=ref, consent=True, consent_recording=other_words,
                  prompt_id=prompt["prompt_id"], api_name="/create_voice")
    assert c.predict(api_name="/list_voices")["profiles"] == []


def test_rerun_a_speech_with_another_speed(client):
    p = client.predict(name="Re-run", api_name="/create_project")
    client.predict(text="A sentence to say again, more slowly.", voice="en-us", project_id=p["id"], api_name="/speak")
    (first,) = client.predict(project_id=p["id"], api_name="/list_generations")
    row, files = client.predict(generation_id=first["id"], overrides_json='{"speed": 0.7}', api_name="/rerun")
    assert row["id"] != first["id"] and row["kind"] == "speak" and row["params"]["speed"] == 0.7
    assert row["status"] == "succeeded" and row["commercial_use"] == "yes"  # espeak-ng: GPL, commercial use allowed
    (wav,) = [f for f in files if str(f).endswith(".wav")]
    assert sf.info(wav).duration > 1.0
    listed = client.predict(project_id=p["id"], api_name="/list_generations")
    assert [g["id"] for g in listed] == [row["id"], first["id"]]
    with pytest.raises(Exception, match="cannot change colour"):
        client.predict(generation_id=first["id"], overrides_json='{"colour": "red"}', api_name="/rerun")


def test_rate_and_suggestions(client):
    p = client.predict(name="Ratings", api_name="/create_project")
    for speed in (0.8, 0.8):
        client.predict(text="Slow and clear.", voice="en-us", speed=speed, project_id=p["id"], api_name="/speak")
    for g in client.predict(project_id=p["id"], api_name="/list_generations"):
        assert client.predict(generation_id=g["id"], stars=5, tags="great", api_name="/rate") == \
            {"generation_id": g["id"], "stars": 5, "tags": ["great"]}
    (speed,) = [s for s in client.predict(kind="speak", api_name="/suggestions") if s["param"] == "speed"]
    assert speed["value"] == 0.8 and speed["reason"].startswith("you rated speech speed 0.8 5.0")
    with pytest.raises(Exception, match="stars must be a whole number from 1 to 5"):
        client.predict(generation_id=g["id"], stars=9, api_name="/rate")
