"""Bad requests through the client API: the whole request is checked (types, ranges, names, text lengths,
referenced ids, every uploaded file) before anything is stored or recorded. Each is refused with a message
naming what was wrong, and leaves no row (no asset, no failed generation, no 'Unsorted' project) and no
file (see conftest.Target.refused)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SAMPLES
from tests.security import badfiles as bad

LONG = "x" * 200_000  # 200k characters
PORTRAIT = SAMPLES / "portraits" / "art_0.png"


def portrait(target):
    return target.file("portrait.png", PORTRAIT.read_bytes())


def test_talking_head_stores_no_portrait_when_the_rest_is_refused(target, project_id):
    t = target
    t.refused(r"'speech\.wav' is named as audio \(\.wav\) but its content is plain text", portrait=portrait(t),
              audio=t.file("speech.wav", b"not a recording"), likeness_consent=True, project_id=project_id,
              api_name="/talking_head")
    t.refused(r"the text is 200,?000 characters; at most 20,000", portrait=portrait(t), text=LONG,
              likeness_consent=True, project_id=project_id, api_name="/talking_head")
    t.refused(r"unknown voice 'klingon'", portrait=portrait(t), text="Hello.", voice="klingon",
              likeness_consent=True, project_id=project_id, api_name="/talking_head")
    t.refused(r"size must be 256, 512 or 'original'", portrait=portrait(t), audio=t.file("a.flac", bad.flac()),
              size=300, likeness_consent=True, project_id=project_id, api_name="/talking_head")
    t.refused(r"'face\.png' is named as photo", portrait=t.file("face.png", b"<html></html>"),
              audio=t.file("a.flac", bad.flac()), likeness_consent=True, project_id=project_id,
              api_name="/talking_head")
    t.refused(r"'long\.flac' lasts 11 min; the limit is 10 min|the audio is too long \(660 s\); at most 600 s",
              portrait=portrait(t), audio=t.file("long.flac", bad.silent_flac(660)), project_id=project_id,
              likeness_consent=True, api_name="/talking_head")
    t.refused(r"confirm that you may use this likeness", portrait=portrait(t), text="Hello.", project_id=project_id,
              api_name="/talking_head")


def test_scene_video_stores_no_audio_when_the_rest_is_refused(target, project_id):
    t = target
    t.refused(r"the captions are 200,?000 characters long; at most 20,?000", audio=t.file("a.flac", bad.flac()),
              captions=LONG, project_id=project_id, api_name="/scene_video")
    t.refused(r"'bad\.png' is named as photo", audio=t.file("a.flac", bad.flac()),
              images=[t.file("ok.png", bad.png()), t.file("bad.png", b"GIF89a? no")], project_id=project_id,
              api_name="/scene_video")
    t.refused(r"template 'disco'", audio=t.file("a.flac", bad.flac()), template="disco", project_id=project_id,
              api_name="/scene_video")
    t.refused(r"'song\.flac' is empty \(0 bytes\)", audio=t.file("song.flac", b""), project_id=project_id,
              api_name="/scene_video")


def test_photo_video_stores_no_photo_when_one_is_refused(target, project_id):
    t = target
    t.refused(r"'bomb\.png' declares an image far larger", images=[t.file("ok.png", bad.png()),
                                                                     t.file("bomb.png", bad.png_header(20000, 20000))],
              project_id=project_id, api_name="/image_to_video")
    t.refused(r"'voice\.png' is named as photo", images=[t.file("voice.png", bad.flac())], project_id=project_id,
              api_name="/image_to_video")


def test_speak_leaves_no_failed_generation(target, project_id):
    target.refused(r"unknown speech backend 'nope'; choose auto, .*piper, embedded", text="Hello.", backend="nope",
                   project_id=project_id, api_name="/speak")
    # Without a project: no 'Unsorted' project is made for a refused request either.
    target.refused(r"unknown speech backend 'nope'", text="Hello.", backend="nope", api_name="/speak")
    target.refused(r"the text is 200,?000 characters; at most 20,000", text=LONG, api_name="/speak")
    target.refused(r"'me\.png' is photo, not audio: a voice needs a recording of speech",
                   reference_audio=target.file("me.png", bad.png()), text="Hi.", api_name="/clone_voice")
    target.refused(r"the text is 200,?000 characters", reference_audio=target.file("me.flac", bad.flac()),
                   text=LONG, api_name="/clone_voice")
    target.refused(r"there is no speech generation 987654", generation_id=987654, sentence=1,
                   api_name="/regenerate_sentence")


def test_decks_leave_no_failed_generation(target, project_id):
    t = target
    outline = "# Plan\n\n## Why\n- because"
    t.refused(r"slide theme 'neon' is unknown; choose one of dark, light", outline=outline, theme="neon",
              project_id=project_id, api_name="/make_deck")
    t.refused(r"the outline is 200,?000 characters; at most 100,000", outline=LONG, api_name="/make_deck")
    t.refused(r"'face\.png' is named as photo", outline=outline, presenter=t.file("face.png", b"<svg/>"),
              project_id=project_id, api_name="/make_deck")
    t.refused(r"'talk\.pptx' looks like a zip bomb", pptx=t.file("talk.pptx", bad.pptx_bomb()),
              project_id=project_id, api_name="/narrate_pptx")
    t.refused(r"'talk\.pptx' is named as pptx \(\.pptx\) but its content is plain text",
              pptx=t.file("talk.pptx", b"slide one"), project_id=project_id, api_name="/narrate_pptx")


def test_a_server_path_in_an_outline_is_refused_saying_what_is_allowed(target):
    """An image in an outline is a photo of the project, by name; never a file on the server."""
    p = target.client.predict(name="Deck with photos", api_name="/create_project")
    target.client.predict(project_id=p["id"], file=target.file("team.png", bad.png()), api_name="/upload_media")
    message = target.refused(r"image '/etc/passwd' on slide 2 \('Why'\) was not found: images on slides are "
                             r"photos uploaded to the project, named by their file name",
                             outline="# Plan\n\n## Why\n![x](/etc/passwd)", project_id=p["id"],
                             api_name="/make_deck")
    assert "this project's photos: team.png" in message
    assert "path" not in message.split("was not found")[1].replace("(files on the server are never read)", "")
    message = target.refused(r"this project has no photos yet: upload one", outline="# Plan\n\n## Why\n![x](x.png)",
                             api_name="/make_deck")


def test_songs_and_lyrics_leave_no_failed_generation(target, project_id):
    t = target
    t.refused(r"the theme is 200,?000 characters long; the limit is 500", theme=LONG, api_name="/write_lyrics")
    t.refused(r"the mood is 200,?000 characters long; the limit is 500", theme="the sea", mood=LONG,
              api_name="/write_lyrics")
    t.refused(r"the title is 200,?000 characters long; the limit is 200", theme="the sea", title=LONG,
              project_id=project_id, api_name="/compose_song")
    t.refused(r"song length 1e\+308 s is outside the allowed", theme="the sea", duration_s=1e308,
              project_id=project_id, api_name="/compose_song")
    t.refused(r"tempo 1e\+308 bpm is outside the allowed", theme="the sea", bpm=1e308, project_id=project_id,
              api_name="/compose_song")
    t.refused(r"no song with id 987654", song_id=987654, api_name="/mix")


def test_names_and_ids(target, project_id):
    t = target
    t.refused(r"the project name is 200,?000 characters long; at most 200", name=LONG, api_name="/create_project")
    t.refused(r"confirm that you have the speaker's consent", name="Me", reference_audio=t.file("me.flac", bad.flac()),
              consent=False, api_name="/create_voice")
    t.refused(r"there is no project with id 987654", text="Hello.", project_id=987654, api_name="/speak")


# --------------------------------------------------------------------------- types

TYPE_ERRORS = [
    ("/speak", {"text": "Hi.", "speed": "fast"}, r"speed must be a number \(float\); got 'fast' \(a string\)"),
    ("/speak", {"text": {"words": "hi"}}, r"text must be text \(str\); got \{'words': 'hi'\} \(an object\)"),
    ("/speak", {"text": "Hi.", "speed": [1.0]}, r"speed must be a number \(float\); got \[1\.0\] \(a list\)"),
    ("/speak", {"text": "Hi.", "pitch_semitones": True}, r"pitch_semitones must be a number \(float\); got True"),
    ("/speak", {"text": "Hi.", "project_id": "mine"}, r"project_id must be a whole number \(int\) or null; got 'mine'"),
    ("/talking_head", {"text": "Hi.", "still": "maybe"}, r"still must be true or false \(bool\); got 'maybe'"),
    ("/talking_head", {"text": "Hi.", "size": [512]}, r"size must be a whole number \(int\) or text \(str\)"),
    ("/talking_head", {"text": "Hi.", "fps": 25.5}, r"fps must be a whole number \(int\); got 25\.5"),
    ("/talking_head", {"text": "Hi.", "fps": 10**30}, r"fps is out of range \(10{30}\)"),
    ("/compose_song", {"theme": "sea", "duration_s": "long"}, r"duration_s must be a number \(float\); got 'long'"),
    ("/image_to_video", {"images": 5}, r"images must be a list of files"),
    ("/scene_video", {"audio": 5}, r"audio must be a file"),
    ("/list_assets", {"project_id": 10**30}, r"project_id is out of range"),
    ("/list_generations", {"project_id": {"id": 1}}, r"project_id must be a whole number \(int\); got \{'id': 1\}"),
    ("/cancel", {"generation_id": 1.5}, r"generation_id must be a whole number \(int\); got 1\.5"),
    ("/mix", {"song_id": 1, "settings_json": {"tracks": {}}}, r"settings_json must be text \(str\); got "),
    ("/share_project", {"project_id": 1, "username": ["bob"]}, r"username must be text \(str\); got \['bob'\]"),
    ("/create_voice", {"name": "Me", "consent": "yes"}, r"consent must be true or false \(bool\); got 'yes'"),
]


@pytest.mark.parametrize("api_name, kwargs, match", TYPE_ERRORS, ids=[f"{a} {list(k)[-1]}" for a, k, _ in TYPE_ERRORS])
def test_wrong_types_name_the_parameter_and_its_type(target, api_name, kwargs, match):
    if api_name == "/talking_head":
        kwargs = {"portrait": portrait(target), **kwargs}
    if api_name == "/create_voice":
        kwargs = {"reference_audio": target.file("me.flac", bad.flac()), **kwargs}
    target.refused(match, **kwargs, api_name=api_name)


def test_nan_and_infinity_are_refused_as_not_finite(target):
    """gradio_client will not send NaN; other clients can (it is accepted JSON to Python's parser)."""
    target.refused_raw(r"speed must be a finite number \(float\); got nan", "/speak",
                       '{"data": ["Hi.", "default", "natural", "auto", NaN, 0, null]}')
    target.refused_raw(r"duration_s must be a finite number \(float\); got inf", "/compose_song",
                       '{"data": ["sea", "", "", "epic", "heroic_male", "default", Infinity, 0, 0, null]}')
    target.refused_raw(r"seconds_per_image must be a finite number", "/image_to_video",
                       json.dumps({"data": [[], None, "-Infinity", "1280x720", 30, None]}))


def test_huge_numbers_are_refused_by_their_range(target):
    target.refused(r"speed must be between 0\.5 and 2\.0 \(1\.0 is normal\); got 1e\+308", text="Hi.",
                   speed=1e308, api_name="/speak")
    target.refused(r"pitch_semitones must be between -12 and 12", text="Hi.", pitch_semitones=-1e308,
                   api_name="/speak")
