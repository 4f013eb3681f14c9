"""Re-run any past generation from what was stored with it: its parameters, its input files (the
portrait, the recordings, the photos, the deck), changed by the overrides the user gives.

    done = rerun(services, generation_id=12, overrides={"speed": 0.9}, actor=actor)

The new generation goes into the same project, as a new job with its own progress and Stop; the old one
is kept. What may be changed is per kind (RERUN_KEYS): a re-run keeps its inputs, so what changes a
file (another portrait) is a new request, not a re-run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.errors import InputError
from core.progress import CancelToken, ProgressFn, no_progress
from storage.jobs import Finished
from storage.library import ANONYMOUS, Actor
from storage.models import Asset, MediaKind

# Per kind, the parameters a re-run may change (the rest come from the stored generation).
RERUN_KEYS: dict[str, tuple[str, ...]] = {
    "speak": ("text", "voice", "style", "backend", "speed", "pitch_semitones", "effects"),
    "clone_voice": ("text", "style"),
    "talking_head": ("text", "voice", "size", "fps", "still", "style", "expression", "head_motion", "crop",
                     "backend"),
    "lyrics": ("theme", "title", "music_style", "mood", "seed"),
    "song": ("theme", "title", "lyrics", "music_style", "voice_style", "voice", "duration_s", "bpm", "seed",
             "backend"),
    "mix": ("settings",),
    "music_video": ("template", "size", "fps", "visualiser"),
    "image_to_video": ("seconds_per_image", "size", "fps", "transition"),
    "scene_video": ("template", "size", "fps", "captions", "visualiser", "title", "seed", "presenter_position",
                    "captions_from_audio"),
    "deck": ("outline", "voice", "theme"),
    "narrated_deck": ("voice",),
    "clone_video": ("idea", "kind", "length_s", "music_style", "template", "size", "captions", "voice"),
}


def parse_overrides(text: str | dict | None) -> dict:
    """The overrides as a dict, from JSON text ("" or None: none)."""
    import json

    if text is None or text == "":
        return {}
    if isinstance(text, dict):
        return dict(text)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"overrides_json is not valid JSON: {e.msg} at character {e.pos}") from None
    if not isinstance(value, dict):
        raise InputError('overrides_json must be a JSON object, e.g. {"speed": 0.9}')
    return value


def rerun(services, generation_id, overrides: dict | None = None, *, actor: Actor = ANONYMOUS,
          progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> Finished:
    """A new generation made like `generation_id`, with `overrides` applied."""
    lib = services.library
    g, inputs, _ = lib.get_generation(generation_id, actor=actor)
    lib.check_project(g.project_id, actor)  # a re-run adds to the project: editors only
    if not g.status.finished:
        raise InputError(f"generation {g.id} is still {g.status.value}; re-run it once it has finished")
    allowed = RERUN_KEYS.get(g.kind)
    if allowed is None:
        raise InputError(f"a {g.kind} generation cannot be re-run")
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise InputError(f"a {g.kind} re-run cannot change {', '.join(unknown)}; it can change: {', '.join(allowed)}")
    p = {**g.params, **overrides}
    files = _Inputs(lib, inputs)
    run = {"progress": progress, "actor": actor}
    with_cancel = {**run, "cancel": cancel}
    project = g.project_id
    make: dict[str, Callable[[], Finished]] = {
        "speak": lambda: services.voices.speak(
            p["text"], p.get("voice", "default"), p.get("style", "natural"), p.get("backend", "auto"),
            p.get("speed", 1.0), p.get("pitch_semitones", 0.0), project, effects=p.get("effects") or None,
            **with_cancel)[0],
        "clone_voice": lambda: services.voices.clone_voice(
            files.one(MediaKind.audio, "the reference recording"), p["text"], p.get("style", "natural"), project,
            **with_cancel)[0],
        "talking_head": lambda: services.talking_heads.render(
            files.one(MediaKind.photo, "the portrait"), files.maybe(MediaKind.audio), p.get("text", ""),
            p.get("voice") or "default", p.get("size", 512), p.get("fps", 25), p.get("still", False), project,
            style=p.get("style", "natural"), expression=p.get("expression", 1.0),
            head_motion=p.get("head_motion", 1.0), crop=p.get("crop", False), backend=p.get("backend", "auto"),
            likeness_consent=_attested(g), **with_cancel),
        "lyrics": lambda: services.music.write_lyrics(
            p["theme"], p.get("title", ""), p.get("music_style", "epic"), p.get("mood", ""),
            seed=p.get("seed", 0), project_id=project, **run)[0],
        "song": lambda: services.music.compose(
            p["theme"], p.get("title", ""), p.get("lyrics", ""), p.get("music_style", "epic"),
            p.get("voice_style", "heroic_male"), p.get("voice", "default"), p.get("duration_s", 60),
            p.get("bpm", 0), p.get("seed", 0), project, backend=p.get("backend", "embedded"), **with_cancel)[0],
        "mix": lambda: services.music.mix(p["song_id"], _json(p.get("settings") or {}), **run),
        "music_video": lambda: services.video.music_video(
            p["song_id"], p.get("template", "epic_battle"), p.get("size", "1280x720"), fps=p.get("fps", 30),
            visualiser=p.get("visualiser", "bars"), **with_cancel),
        "image_to_video": lambda: services.video.image_to_video(
            files.all(MediaKind.photo), files.maybe(MediaKind.audio), p.get("seconds_per_image", 4.0),
            p.get("size", "1280x720"), p.get("fps", 30), project, transition=p.get("transition", "crossfade"),
            **with_cancel),
        "scene_video": lambda: services.video.scene_video(
            files.maybe(MediaKind.audio), p.get("template", "epic_battle"), files.all(MediaKind.photo),
            p.get("captions", ""), p.get("size", "1280x720"), p.get("fps", 30), project,
            visualiser=p.get("visualiser"), title=p.get("title", ""), seed=p.get("seed", 0),
            talking_head=files.maybe(MediaKind.video), presenter_position=p.get("presenter_position") or "bottom-right",
            captions_from_audio=p.get("captions_from_audio", False), **with_cancel),
        "deck": lambda: services.slides.make_deck(
            p["outline"], p.get("voice", "default"), files.maybe(MediaKind.photo), p.get("theme", "dark"), project,
            likeness_consent=_attested(g), **with_cancel),
        "clone_video": lambda: services.clones.make(
            files.one(MediaKind.photo, "the portrait"), p.get("voice") or "default", p["idea"],
            p.get("kind", "explainer"), p.get("length_s", 60), p.get("music_style", "emotional"),
            p.get("template", ""), p.get("size", "1280x720"), p.get("captions", True), project,
            voice_sample=files.maybe(MediaKind.audio), likeness_consent=_attested(g), **with_cancel),
        "narrated_deck": lambda: services.slides.narrate_pptx(
            files.one(MediaKind.pptx, "the deck"), p.get("voice", "default"), files.maybe(MediaKind.photo), project,
            likeness_consent=_attested(g), **with_cancel),
    }
    return make[g.kind]()


def _attested(g) -> bool:
    """The likeness attestation given for the generation's photo holds for its re-runs."""
    return g.params.get("likeness_consent") is True


def _json(value: dict) -> str:
    import json

    return json.dumps(value)


class _Inputs:
    """A generation's stored input files by kind, as (path, name) the workflows take, in their order."""

    def __init__(self, library, assets: list[Asset]) -> None:
        self.library = library
        self.assets = assets

    def all(self, kind: MediaKind) -> list[tuple[Path, str]]:
        return [(self.library.asset_path(a), a.name) for a in self.assets if a.kind is kind]

    def maybe(self, kind: MediaKind) -> tuple[Path, str] | None:
        found = self.all(kind)
        return found[0] if found else None

    def one(self, kind: MediaKind, what: str) -> tuple[Path, str]:
        found = self.maybe(kind)
        if found is None:
            raise InputError(f"{what} of this generation is no longer stored; make a new request with it")
        return found
