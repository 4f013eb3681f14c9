"""A whole song: theme -> lyrics -> composition -> rendered stems -> sung vocals -> mix and master.

`make_song` is the embedded pipeline (CPU, nothing downloaded). An instrumental from another backend
(MusicGen) can replace the rendered stems; the melody is still composed for the vocals.

Rendering (FluidSynth, one core) and singing need only the composition, so they run at the same time:
the stems render in a worker thread while the vocals are sung (then it writes the MIDI file while
the song is mixed); progress is reported from the calling thread only.
"""

from __future__ import annotations

import io
import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from core.audio import Audio
from core.errors import InputError
from core.progress import CancelToken, ProgressFn, Stages, no_progress
from engines.music.types import SAMPLE_RATE, Singer

log = logging.getLogger(__name__)

DURATION_RANGE_S = (10.0, 600.0)
BPM_RANGE = (40.0, 240.0)
DEFAULT_VOCAL_STYLES = ("heroic_male", "soprano", "choir", "whisper")
STAGE_WEIGHTS = {"lyrics": 1, "compose": 1, "render and sing": 9, "mix": 2}
# Shares of the "render and sing" stage (they run at the same time).
RENDER_WEIGHT, SING_WEIGHT = 3, 6


@dataclass(frozen=True)
class SongRequest:
    # What the song is about (used to write lyrics when none are given).
    theme: str
    # Song title ("" = none).
    title: str = ""
    # Lyrics with [Verse]/[Chorus]/[Bridge] headers or plain stanzas; "" = write them from the theme.
    lyrics: str = ""
    # Music style name (assets/music_styles.json).
    music_style: str = "epic"
    # Vocal style (heroic_male, soprano, choir, whisper); "" = the music style's default.
    vocal_style: str = ""
    # Who sings.
    singer: Singer = field(default_factory=Singer)
    # Song length in seconds (10..600).
    duration_s: float = 60.0
    # Tempo in beats per minute (40..240); 0 = the style's default.
    bpm: float = 0.0
    # Seed for the lyrics, melody and arrangement (same seed, same song).
    seed: int = 0
    # "embedded" renders the composition with FluidSynth; an Audio (e.g. from MusicGen) is used as the
    # instrumental instead.
    instrumental: object = "embedded"
    # Mood words for the lyric writer ("hopeful", "sad", ...).
    mood: str = ""


@dataclass(frozen=True)
class SongResult:
    # The mastered song: stereo float32 at 44.1 kHz.
    mix: Audio
    # Stem name -> its audio before the mix ("vocals" included), each the song's length.
    stems: dict[str, Audio]
    # The composition as a standard MIDI file (the vocal line is its last track).
    midi_bytes: bytes
    # Timed lyrics (LRC with word times).
    lrc: str
    # The lyrics as text with section headers.
    lyrics_text: str
    # Tempo in beats per minute and key ("D minor").
    bpm: float
    key: str
    # [{"name", "kind", "start_s", "end_s"}] for intro, lyric sections and outro.
    sections: list[dict]
    # Everything needed to make the same song again.
    parameters: dict
    # Things the user should know (lyrics written offline, sections left out, ...).
    notes: list[str]
    # lufs, true_peak_dbtp, length_s, and "seconds": per stage (lyrics, compose, render, sing, mix) and
    # "total". Render and sing overlap: "render_and_sing" is their wall time together.
    metrics: dict
    # The mix settings used (re-mix the stems with changed settings later).
    mix_settings: object


def vocal_style_names() -> list[str]:
    try:
        from engines.music.sing import vocal_style_names as names

        return list(names())
    except ImportError:
        return list(DEFAULT_VOCAL_STYLES)


def check_song_request(req: SongRequest) -> tuple[SongRequest, list[str]]:
    """The request with defaults filled in (bpm, vocal style), and notes; bad input -> InputError."""
    from engines.music.lyrics import (
        MAX_LYRICS_CHARS,
        MAX_THEME_CHARS,
        check_lyrics_text,
        check_theme,
        check_words,
    )
    from engines.music.styles import get_style

    notes: list[str] = []
    style = get_style(req.music_style)
    if (req.lyrics or "").strip():
        check_lyrics_text(req.lyrics)
    else:
        check_theme(req.theme)
    if len(req.lyrics or "") > MAX_LYRICS_CHARS:
        check_lyrics_text(req.lyrics)
    if len(req.theme or "") > MAX_THEME_CHARS:
        check_theme(req.theme)
    check_words(req.title)
    lo, hi = DURATION_RANGE_S
    try:
        duration = float(req.duration_s)
    except (TypeError, ValueError):
        raise InputError(f"song length {req.duration_s!r} is not a number of seconds ({lo:g}..{hi:g})") from None
    if not (math.isfinite(duration) and lo <= duration <= hi):
        raise InputError(f"song length {req.duration_s:g} s is outside the allowed {lo:g}..{hi:g} seconds")
    try:
        bpm = float(req.bpm or 0)
    except (TypeError, ValueError):
        raise InputError(f"tempo {req.bpm!r} is not a number of beats per minute") from None
    if bpm == 0:
        bpm = float(style.bpm)
    blo, bhi = BPM_RANGE
    if not (math.isfinite(bpm) and blo <= bpm <= bhi):
        raise InputError(f"tempo {req.bpm:g} bpm is outside the allowed {blo:g}..{bhi:g} bpm (0 = the style's "
                         f"default, {style.bpm} for {style.name})")
    if not style.bpm_range[0] <= bpm <= style.bpm_range[1]:
        notes.append(f"{bpm:g} bpm is unusual for {style.label} (usually {style.bpm_range[0]}..{style.bpm_range[1]})")
    vocal = (req.vocal_style or style.vocal_style).strip().lower()
    if vocal not in vocal_style_names():
        raise InputError(f"unknown vocal style {req.vocal_style!r}; choose one of: {', '.join(vocal_style_names())}")
    if not isinstance(req.instrumental, Audio) and req.instrumental != "embedded":
        raise InputError("the instrumental must be 'embedded' or audio from another music backend")
    return replace(req, music_style=style.name, vocal_style=vocal, duration_s=duration, bpm=bpm,
                   seed=int(req.seed)), notes


def _fit(audio: Audio, length_s: float) -> Audio:
    """Audio resampled to 44.1 kHz stereo and cut or padded to exactly `length_s` (short fade at the end)."""
    a = audio.resampled(SAMPLE_RATE)
    y = a.samples.astype(np.float32)
    y = np.stack([y, y], axis=1) if y.ndim == 1 else y[:, :2] if y.shape[1] >= 2 else np.repeat(y, 2, axis=1)
    n = int(round(length_s * SAMPLE_RATE))
    y = y[:n] if len(y) >= n else np.pad(y, ((0, n - len(y)), (0, 0)))
    fade = min(len(y), int(0.5 * SAMPLE_RATE))
    if fade:
        y[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)[:, None]
    return Audio(y, SAMPLE_RATE)


def _midi_bytes(midi) -> bytes:
    buf = io.BytesIO()
    midi.write(buf)
    return buf.getvalue()


class _LinkedCancel(CancelToken):
    """Set by its owner, or by the caller's token."""

    def __init__(self, outer: CancelToken | None) -> None:
        super().__init__()
        self._outer = outer

    def raise_if_set(self) -> None:
        if self._outer is not None:
            self._outer.raise_if_set()
        super().raise_if_set()


def make_song(req: SongRequest, progress: ProgressFn = no_progress, cancel: CancelToken | None = None,
              llm: Callable[[str, str], str] | None = None,
              stems_ready: Callable[[dict[str, Audio]], None] | None = None) -> SongResult:
    """Write (or read) the lyrics, compose, render, sing, mix and master one song. `stems_ready`, when
    given, is called with the finished stems (vocals included, the same Audio the result returns) just
    before they are mixed, from this thread: a caller can write them out while the mix is made."""
    from engines.music import lrc as lrc_mod
    from engines.music.compose import compose
    from engines.music.lyrics import parse_lyrics, write_lyrics
    from engines.music.mix import default_mix, mix
    from engines.music.render import render_stems
    from engines.music.styles import get_style

    req, notes = check_song_request(req)
    style = get_style(req.music_style)
    stages = Stages(progress, STAGE_WEIGHTS)
    seconds: dict[str, float] = {}

    def check() -> None:
        if cancel is not None:
            cancel.raise_if_set()

    t_start = t = time.perf_counter()
    stages.report("lyrics", 0, "lyrics")
    if (req.lyrics or "").strip():
        lyrics = parse_lyrics(req.lyrics, req.title)
    else:
        lyrics, lyric_notes = write_lyrics(req.theme, req.title, style.name, req.mood, seed=req.seed, llm=llm)
        notes += lyric_notes
    seconds["lyrics"] = time.perf_counter() - t
    check()

    t = time.perf_counter()
    stages.report("compose", 0, "composing")
    comp = compose(lyrics, style, req.duration_s, req.bpm, seed=req.seed, vocal_style=req.vocal_style)
    notes += list(comp.notes)
    seconds["compose"] = time.perf_counter() - t
    check()

    t_both = time.perf_counter()
    from engines.music.sing import sing

    done = {"render": 0.0, "sing": 0.0}
    lock = threading.Lock()

    def report(message: str = "") -> None:  # from this thread only
        with lock:
            fraction = (RENDER_WEIGHT * done["render"] + SING_WEIGHT * done["sing"]) / (RENDER_WEIGHT + SING_WEIGHT)
        stages.report("render and sing", fraction, message)

    def rendered(d: float, n: float, m: str = "") -> None:  # from the render thread: record only
        with lock:
            done["render"] = max(done["render"], d / (n or 1))

    def sung(d: float, n: float, m: str = "") -> None:
        with lock:
            done["sing"] = max(done["sing"], d / (n or 1))
        report(m)

    stem_names = ["instrumental"] if isinstance(req.instrumental, Audio) else list(comp.stems)
    settings = default_mix(style.name, [*stem_names, "vocals"])

    def render_job() -> tuple[dict[str, Audio], float]:
        t0 = time.perf_counter()
        out = render_stems(comp, progress=rendered, cancel=stop)
        return out, time.perf_counter() - t0

    stop = _LinkedCancel(cancel)
    # One worker: the stems render there while this thread sings, then it writes the MIDI file while
    # this thread mixes.
    pool = ThreadPoolExecutor(1, thread_name_prefix="song-worker")
    try:
        if isinstance(req.instrumental, Audio):
            stages.report("render and sing", 0, "fitting the instrumental")
            t = time.perf_counter()
            stems = {"instrumental": _fit(req.instrumental, comp.length_s)}
            seconds["render"] = time.perf_counter() - t
            future = None
        else:
            stages.report("render and sing", 0, "rendering and singing")
            future = pool.submit(render_job)
        midi_future = pool.submit(_midi_bytes, comp.midi)
        try:
            t = time.perf_counter()
            vocals = sing(comp.melody, req.singer, req.vocal_style, length_s=comp.length_s,
                          sample_rate_hz=SAMPLE_RATE, seed=req.seed, progress=sung, cancel=cancel)
            seconds["sing"] = time.perf_counter() - t
            if future is not None:
                report("rendering the instruments")
                stems, seconds["render"] = future.result()
        except BaseException:
            stop.cancel()  # the render stops at its next check
            midi_future.cancel()
            raise
        stems["vocals"] = vocals
        seconds["render_and_sing"] = time.perf_counter() - t_both
        report("rendered and sung")
        check()
        if stems_ready is not None:
            stems_ready(dict(stems))

        t = time.perf_counter()
        stages.report("mix", 0, "mixing and mastering")
        mixed = mix(stems, settings)
        seconds["mix"] = time.perf_counter() - t
        stages.report("mix", 1, "done")
        midi_bytes = midi_future.result()
    finally:
        pool.shutdown(wait=True)

    sections = [asdict(s) for s in comp.sections]
    lrc_text = lrc_mod.to_lrc(comp.lines, title=req.title or req.theme, length_s=comp.length_s)
    params = {"theme": req.theme, "title": req.title, "lyrics": lyrics.to_text(), "music_style": style.name,
              "vocal_style": req.vocal_style, "singer": req.singer.label, "espeak_voice": req.singer.espeak_voice,
              "duration_s": req.duration_s, "bpm": req.bpm, "seed": req.seed, "mood": req.mood,
              "instrumental": "external" if isinstance(req.instrumental, Audio) else "embedded"}
    seconds["total"] = time.perf_counter() - t_start
    metrics = {"lufs": round(mixed.lufs, 2), "true_peak_dbtp": round(mixed.true_peak_dbtp, 2),
               "length_s": round(mixed.audio.duration_s, 3), "seconds": {k: round(v, 3) for k, v in seconds.items()},
               "sung_notes": len(comp.melody), "lyric_lines": len(comp.lines)}
    log.info("song %r: %.1f s, %s, %.0f bpm, stages %s", req.title or req.theme, comp.length_s, comp.key, comp.bpm,
             metrics["seconds"])
    return SongResult(mix=mixed.audio, stems=stems, midi_bytes=midi_bytes, lrc=lrc_text,
                      lyrics_text=lyrics.to_text(), bpm=comp.bpm, key=comp.key, sections=sections, parameters=params,
                      notes=notes, metrics=metrics, mix_settings=settings)
