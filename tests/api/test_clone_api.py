"""/make_clone_video through gradio_client against the running app: a 20 s explainer from a portrait, a real
voice sample and an idea; its parts are checked as a listener and a viewer would: the narration says the
script, the talking head lasts exactly as long, the music stays under the voice, the captions come on time."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file

from core.audio import Audio
from tests.conftest import MODELS_DIR, SAMPLES, voice_clips

CONTRACT = {"portrait": None, "voice": None, "idea": None, "kind": "explainer", "length_s": 60,
            "music_style": "emotional", "template": "", "size": "1280x720", "captions": True, "project_id": None,
            "likeness_consent": False, "voice_sample": None}


def test_names_and_parameters_are_stable(client):
    named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    got = {p["parameter_name"]: p["parameter_default"] for p in named["/make_clone_video"]["parameters"]}
    assert list(got) == list(CONTRACT)
    assert {k: v for k, v in got.items() if CONTRACT[k] is not None} == \
           {k: v for k, v in CONTRACT.items() if v is not None}
    assert [p["parameter_name"] for p in named["/write_script"]["parameters"]] == ["idea", "kind", "length_s"]


@pytest.fixture(scope="module")
def clone(client):
    sample = voice_clips("vctk-p226")[2]
    video, parts, details = client.predict(
        portrait=handle_file(str(SAMPLES / "portraits" / "art_0.png")), voice="default",
        idea="why bees matter for our food", length_s=20, likeness_consent=True,
        voice_sample=handle_file(str(sample)), api_name="/make_clone_video")
    by_name = {}
    for p in parts:
        for role, pattern in (("script", r"script\.md$"), ("narration", r"narration\.wav$"),
                              ("music", r"music\.wav$"), ("head", r"head\.mp4$"), ("srt", r"\.srt$"),
                              ("script sidecar", r"script\.md\.c2pa$"), ("srt sidecar", r"\.srt\.c2pa$")):
            if re.search(pattern, p):
                by_name[role] = p
    return video, by_name, details


def _frames(path) -> int:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                          "stream=nb_read_frames", "-of", "csv=p=0", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return int(out.strip())


def _srt(text: str) -> list[tuple[float, float, str]]:
    def sec(t: str) -> float:
        h, m, s = t.replace(",", ".").split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    cues = []
    for block in text.strip().split("\n\n"):
        lines = block.splitlines()
        start, end = lines[1].split(" --> ")
        cues.append((sec(start), sec(end), " ".join(lines[2:])))
    return cues


def test_a_20_s_explainer_and_its_parts(clone, assert_signed):
    from engines.asr import transcribe, word_error_rate
    from engines.slides import parse_outline
    from settings import Settings

    video, parts, details = clone
    assert {"script", "narration", "music", "head", "srt"} <= set(parts), parts
    script = Path(parts["script"]).read_text(encoding="utf-8")
    assert details["script"] == script and details["metrics"]["kind"] == "explainer"
    said = " ".join(s.notes for s in parse_outline(script).slides)
    narration = Audio.read(parts["narration"])
    assert 12 <= narration.duration_s <= 26

    # The narration says the script (heard by Whisper base).
    heard = transcribe(narration.mono(), Settings(models_dir=MODELS_DIR), language="en", word_timestamps=True)
    assert word_error_rate(said, heard.text) <= 0.15, heard.text

    # The talking head and the video are exactly as long as the narration.
    frames = round(narration.duration_s * 30)
    assert _frames(parts["head"]) == _frames(video) == frames

    # The music stays under the voice: 300-3400 Hz energy of the voice over the music's, while speaking.
    music = Audio.read(parts["music"])
    rate, hop = narration.sample_rate, narration.sample_rate // 2
    v, m = narration.samples.mean(axis=1), music.samples.mean(axis=1)
    margins, quiet = [], []
    for k in range(0, len(v) - hop, hop):
        rms = float(np.sqrt(np.mean(v[k:k + hop] ** 2)))
        if rms > 0.03:
            spec_v = np.abs(np.fft.rfft(v[k:k + hop])) ** 2
            spec_m = np.abs(np.fft.rfft(m[k:k + hop])) ** 2
            f = np.fft.rfftfreq(hop, 1 / rate)
            band = (f >= 300) & (f <= 3400)
            margins.append(10 * np.log10(spec_v[band].sum() / (spec_m[band].sum() + 1e-20)))
        elif rms < 1e-4:
            quiet.append(float(np.sqrt(np.mean(m[k:k + hop] ** 2))))
    assert len(margins) >= 10 and np.percentile(margins, 10) >= 12.0, sorted(margins)[:5]
    assert quiet and max(quiet) > 0.01  # where nobody speaks (the end card) the music plays

    # The captions come when their words are said: each line starts within 0.6 s of its first word as heard.
    heard_words = [(re.sub(r"\W", "", w.text.lower()), w.start_s) for w in heard.words()]
    cues = _srt(Path(parts["srt"]).read_text(encoding="utf-8"))
    assert len(cues) >= 4
    on_time = 0
    for start, _end, text in cues:
        first = re.sub(r"\W", "", text.split()[0].lower())
        near = [t for w, t in heard_words if w == first and abs(t - start) < 3]
        on_time += bool(near) and min(abs(t - start) for t in near) <= 0.6
    assert on_time >= 0.8 * len(cues), (on_time, cues)

    # Every file is signed as made by this generation.
    gid = details["generation_id"]
    for path in (video, parts["narration"], parts["music"], parts["head"]):
        assert assert_signed(path, "clone_video") == gid
    for text in ("script", "srt"):  # text parts come with their sidecars
        assert assert_signed(parts[text], "clone_video", parts[f"{text} sidecar"]) == gid


def test_the_script_can_be_read_and_edited_first_and_bad_requests_say_what_is_wrong(client):
    script = client.predict(idea="how tides work", kind="announcement", length_s=30, api_name="/write_script")
    assert script.startswith("# How tides work") and script.count("## ") == 4 and "Notes:" in script
    photo = handle_file(str(SAMPLES / "portraits" / "art_0.png"))
    with pytest.raises(Exception, match="likeness"):
        client.predict(portrait=photo, voice="default", idea="tides", api_name="/make_clone_video")
    with pytest.raises(Exception, match="kind 'opera' is not offered"):
        client.predict(portrait=photo, voice="default", idea="tides", kind="opera", likeness_consent=True,
                       api_name="/make_clone_video")
