"""Composition: lyrics + style -> arrangement, chords, a sung melody and accompaniment as MIDI.

Deterministic for a seed. The song is 4/4 at a fixed tempo; the arrangement (intro, the lyric
sections, outro) is made of whole bars and its last bar is held so the song ends exactly at the
requested length. Each lyric line gets a phrase of 1, 2 or 4 bars: one note (or a short melisma) per
syllable, the last syllable long on a chord tone (the tonic at the end of a section), then a breath.
"""

from __future__ import annotations

import logging
import math
import zlib
from dataclasses import dataclass, field

import numpy as np

from core.errors import InputError
from engines.music.lyrics import Lyrics, line_syllables
from engines.music.styles import MusicStyle, chord_pitch_classes, get_style
from engines.music.types import SungNote

log = logging.getLogger(__name__)

STEPS_PER_BAR = 16  # 16th notes in a 4/4 bar
# Comfortable (low, high) MIDI notes per vocal style, used when the singer does not say.
DEFAULT_VOCAL_RANGES = {"heroic_male": (48, 67), "soprano": (60, 81), "choir": (52, 72), "whisper": (50, 70)}
# Seconds a sung syllable takes on average, and the breath after a phrase: they size the phrases.
SYLLABLE_S, BREATH_S = 0.32, 0.6
MELODY_PROGRAM = 53  # "Voice Oohs": plays the vocal line in the MIDI file


@dataclass(frozen=True)
class SectionSpan:
    """A part of the arrangement on the song's timeline."""

    # "intro", "verse 1", "chorus 2", "outro".
    name: str
    # intro, verse, chorus, bridge or outro.
    kind: str
    # Start and end on the timeline, in seconds.
    start_s: float
    end_s: float


@dataclass(frozen=True)
class LyricLine:
    """A sung line with its timing (for LRC and captions)."""

    # Index over the whole song (matches SungNote.line_index).
    index: int
    # The line as written.
    text: str
    # First syllable's onset and last note's end, in seconds.
    start_s: float
    end_s: float
    # (onset in seconds, word) for every word of the line.
    words: tuple[tuple[float, str], ...]


@dataclass(frozen=True)
class Composition:
    # The whole arrangement; the last instrument is the vocal line (not in any stem).
    midi: object  # pretty_midi.PrettyMIDI
    # The vocal melody, in time order.
    melody: tuple[SungNote, ...]
    # Tempo in beats per minute (fixed over the song).
    bpm: float
    # Key, e.g. "D minor".
    key: str
    # Intro, lyric sections and outro on the timeline.
    sections: tuple[SectionSpan, ...]
    # Song length in seconds (the requested duration).
    length_s: float
    # Stem name -> indices into midi.instruments.
    stems: dict[str, list[int]]
    # The sung lines with their times.
    lines: tuple[LyricLine, ...]
    # Lowest and highest MIDI note of the vocal range used.
    vocal_range: tuple[int, int]
    # Pitch classes of the chord in each bar (root first).
    chords: tuple[tuple[int, ...], ...] = ()
    # Things the user should know (lyrics trimmed to fit, ...).
    notes: tuple[str, ...] = field(default_factory=tuple)


def vocal_range(vocal_style: str) -> tuple[int, int]:
    """The singer's comfortable range, from engines.music.sing when it is there."""
    try:
        from engines.music.sing import vocal_range as sing_range

        return tuple(sing_range(vocal_style))  # type: ignore[return-value]
    except ImportError:
        return DEFAULT_VOCAL_RANGES.get(vocal_style, (50, 70))


def _rng(seed: int, *parts: object) -> np.random.Generator:
    key = "|".join(str(p) for p in (seed, *parts)).encode()
    return np.random.default_rng(zlib.crc32(key))


@dataclass
class _Block:
    kind: str
    name: str
    bars: int
    lines: list[str]
    bars_per_line: int
    progression: tuple[str, ...] = ()
    start_bar: int = 0


def _bars_per_line(lines: list[str], bar_s: float) -> int:
    longest = max((len(line_syllables(line)) for line in lines), default=0)
    need = (longest * SYLLABLE_S + BREATH_S) / bar_s
    for bars in (1, 2, 4):
        if need <= bars and longest <= bars * STEPS_PER_BAR - 2:
            return bars
    return 4


def _arrange(lyrics: Lyrics, style: MusicStyle, total_bars: int, bar_s: float,
             seed: int) -> tuple[list[_Block], list[str]]:
    """Intro, lyric sections and outro in whole bars. Intro and outro take about 4.5 s each; when that
    would leave a lyric section out, they shrink to a bar each first (a short song still sings)."""
    edge = max(1, min(4, math.ceil(4.5 / bar_s)))
    blocks, notes, dropped = _arrange_with_edges(lyrics, style, total_bars, bar_s, seed, edge)
    if dropped and edge > 1:
        blocks, notes, _ = _arrange_with_edges(lyrics, style, total_bars, bar_s, seed, 1)
    return blocks, notes


def _arrange_with_edges(lyrics: Lyrics, style: MusicStyle, total_bars: int, bar_s: float, seed: int,
                        edge: int) -> tuple[list[_Block], list[str], list[str]]:
    notes: list[str] = []
    intro, outro = edge, edge
    if total_bars < intro + outro + 1:
        intro, outro = (1, 0) if total_bars >= 2 else (0, 0)
    available = total_bars - intro - outro
    counts: dict[str, int] = {}
    blocks: list[_Block] = []
    lyric_sections = [s for s in lyrics.sections if s.lines]
    dropped: list[str] = []
    for sec in lyric_sections:
        per = _bars_per_line(list(sec.lines), bar_s)
        fit = min(len(sec.lines), available // per)
        if fit < len(sec.lines) and blocks:
            fit = 0  # a later, shorter section may fit whole; a cut-off section sounds unfinished
        if fit == 0:
            dropped.append(sec.kind)
            continue
        counts[sec.kind] = counts.get(sec.kind, 0) + 1
        blocks.append(_Block(sec.kind, f"{sec.kind} {counts[sec.kind]}", fit * per, list(sec.lines[:fit]), per))
        available -= fit * per
        if fit < len(sec.lines):
            notes.append(f"the {sec.kind} was shortened to {fit} of {len(sec.lines)} lines to fit the song length")
    if dropped:
        notes.append(f"{len(dropped)} lyric section(s) ({', '.join(dropped)}) did not fit the song length and "
                     "were left out; make the song longer to hear them")
    # Lyrics shorter than the song: bring the chorus (or the last section) back, then lengthen the ends.
    repeat = next((b for b in reversed(blocks) if b.kind == "chorus"), blocks[-1] if blocks else None)
    while repeat is not None and available >= repeat.bars:
        counts[repeat.kind] += 1
        blocks.append(_Block(repeat.kind, f"{repeat.kind} {counts[repeat.kind]}", repeat.bars, list(repeat.lines),
                             repeat.bars_per_line))
        available -= repeat.bars
    if available > 0:
        extra_intro = min(available // 2, max(0, 4 - intro))
        intro += extra_intro
        outro += available - extra_intro
    out = []
    if intro:
        out.append(_Block("intro", "intro", intro, [], 1))
    out += blocks
    if outro:
        out.append(_Block("outro", "outro", outro, [], 1))
    bar = 0
    for b in out:
        progs = style.progressions.get(b.kind) or style.progressions["verse"]
        b.progression = progs[int(_rng(seed, "prog", b.kind).integers(len(progs)))]
        b.start_bar = bar
        bar += b.bars
    return out, notes, dropped


def _durations(n: int, window: int, rng: np.random.Generator) -> list[int]:
    """Note lengths in 16ths for n syllables filling `window` 16ths; the last is the long phrase end."""
    if n == 1:
        return [window]
    if (n - 1) * 2 + 4 <= window:
        d = [2] * (n - 1)
        spare = window - (n - 1) * 2 - 4
        # Lengthen a few notes to quarters (never two in a row) for a less mechanical rhythm.
        for i in rng.permutation(n - 1):
            if spare < 2:
                break
            if rng.random() < 0.45 and (i == 0 or d[i - 1] == 2):
                d[i] += 2
                spare -= 2
        return d + [4 + spare]
    if (n - 1) + 2 <= window:
        k = window - 2 - (n - 1)  # this many syllables get an eighth, the rest a sixteenth
        d = [1] * (n - 1)
        for i in np.linspace(0, n - 2, num=min(k, n - 1)).astype(int) if k > 0 else []:
            d[i] = 2
        return d + [window - sum(d)]
    base = [1] * n  # more syllables than 16ths: the phrase runs over its breath
    return base


def _scale_notes(style: MusicStyle, low: int, high: int) -> np.ndarray:
    pcs = {(style.tonic_pc + s) % 12 for s in style.scale}
    return np.array([m for m in range(low, high + 1) if m % 12 in pcs])


def _nearest_with_pc(pitch: int, pcs: tuple[int, ...], low: int, high: int) -> int:
    cands = [m for m in range(low, high + 1) if m % 12 in pcs]
    if not cands:
        return min(max(pitch, low), high)
    return min(cands, key=lambda m: (abs(m - pitch), m))


def _melody_for_line(syllables, chords_at, start_step: int, window: int, rng: np.random.Generator,
                     scale: np.ndarray, centre: int, low: int, high: int, tonic_pc: int, end_on_tonic: bool
                     ) -> list[tuple[int, int, int, tuple, bool, bool]]:
    """(step, length in 16ths, pitch, syllable triple, continues, phrase_end) for one line."""
    n = len(syllables)
    durs = _durations(n, window, rng)
    out = []
    idx = int(np.argmin(np.abs(scale - centre)))
    idx = max(0, min(len(scale) - 1, idx + int(rng.integers(-1, 2))))
    step = start_step
    for i, (syl, d) in enumerate(zip(syllables, durs)):
        last = i == n - 1
        chord = chords_at(step)
        if i > 0:
            move = int(rng.choice([-2, -1, -1, 0, 1, 1, 2]))
            # Drift back toward the centre of the range.
            if scale[idx] > centre + 5:
                move = -abs(move) or -1
            elif scale[idx] < centre - 5:
                move = abs(move) or 1
            idx = max(0, min(len(scale) - 1, idx + move))
        pitch = int(scale[idx])
        if last:
            pcs = (tonic_pc,) if end_on_tonic and tonic_pc in chord else (chord[0], chord[2], chord[1])
            pitch = _nearest_with_pc(pitch, pcs, low, high)
            idx = int(np.argmin(np.abs(scale - pitch)))
        elif step % 8 == 0:  # strong beats land on chord tones
            pitch = _nearest_with_pc(pitch, chord, low, high)
            idx = int(np.argmin(np.abs(scale - pitch)))
        if not last and d >= 4 and rng.random() < 0.35:
            # A melisma: the syllable moves to a neighbouring scale note halfway through.
            nxt = int(scale[max(0, min(len(scale) - 1, idx + int(rng.choice([-1, 1]))))])
            out.append((step, d // 2, pitch, syl, False, False))
            out.append((step + d // 2, d - d // 2, nxt, syl, True, False))
        else:
            out.append((step, d, pitch, syl, False, last))
        step += d
    return out


def _check(duration_s: float, bpm: float) -> None:
    if not (duration_s > 0 and math.isfinite(duration_s)):
        raise InputError(f"song length {duration_s!r} s must be a positive number of seconds")
    if not (bpm > 0 and math.isfinite(bpm)):
        raise InputError(f"tempo {bpm!r} must be a positive number of beats per minute")


def compose(lyrics: Lyrics, style: MusicStyle | str, duration_s: float, bpm: float, seed: int = 0,
            vocal_style: str = "") -> Composition:
    """Arrange, harmonise and orchestrate `lyrics` in `style` at `bpm`, exactly `duration_s` seconds long."""
    import pretty_midi

    style = get_style(style) if isinstance(style, str) else style
    _check(float(duration_s), float(bpm))
    vocal_style = vocal_style or style.vocal_style
    low, high = vocal_range(vocal_style)
    beat_s = 60.0 / bpm
    bar_s = 4 * beat_s
    step_s = bar_s / STEPS_PER_BAR
    total_bars = max(1, int(duration_s // bar_s))
    length_s = float(duration_s)
    blocks, notes = _arrange(lyrics, style, total_bars, bar_s, seed)
    # The last bar is held until the end of the song (the part of a bar that does not fit a whole one).
    last_bar = total_bars - 1

    def bar_time(bar: float) -> float:
        return bar * bar_s

    # Chords: one per bar, from each block's progression; the song ends on the tonic.
    tonic_numeral = "I" if style.mode == "major" else "i"
    bar_chords: list[tuple[int, ...]] = []
    bar_kind: list[str] = []
    for b in blocks:
        for k in range(b.bars):
            bar_chords.append(chord_pitch_classes(b.progression[k % len(b.progression)], style.tonic_pc, style.mode))
            bar_kind.append(b.kind)
    bar_chords[-1] = chord_pitch_classes(tonic_numeral, style.tonic_pc, style.mode)

    def chords_at(step: int) -> tuple[int, ...]:
        return bar_chords[min(len(bar_chords) - 1, step // STEPS_PER_BAR)]

    # ---- melody
    scale = _scale_notes(style, low, high)
    mid = (low + high) // 2
    melody: list[SungNote] = []
    lines: list[LyricLine] = []
    line_index = 0
    for b in blocks:
        if not b.lines:
            continue
        centre = mid + (3 if b.kind == "chorus" else -2 if b.kind == "verse" else 1)
        for li, text in enumerate(b.lines):
            syllables = line_syllables(text)
            if not syllables:
                continue
            slot = b.bars_per_line * STEPS_PER_BAR
            window = slot - 4 if len(syllables) + 4 <= slot else slot - 2
            start = (b.start_bar + li * b.bars_per_line) * STEPS_PER_BAR
            rng = _rng(seed, "melody", b.kind, li, len(syllables), text)
            phrase = _melody_for_line(syllables, chords_at, start, window, rng, scale, centre, low, high,
                                      style.tonic_pc, end_on_tonic=(li == len(b.lines) - 1))
            words: list[tuple[float, str]] = []
            for step, d, pitch, (syl, word, si), cont, end in phrase:
                t = step * step_s
                melody.append(SungNote(start_s=round(t, 4), duration_s=round(d * step_s, 4), pitch_midi=int(pitch),
                                       syllable=syl, word=word, syllable_index=si, continues=cont,
                                       line_index=line_index, phrase_end=end))
                if si == 0 and not cont:
                    words.append((round(t, 3), word))
            first = melody[-len(phrase)]
            lines.append(LyricLine(line_index, text, first.start_s,
                                   round(melody[-1].start_s + melody[-1].duration_s, 4), tuple(words)))
            line_index += 1

    # ---- accompaniment
    pm = pretty_midi.PrettyMIDI(initial_tempo=float(bpm))
    stems: dict[str, list[int]] = {}
    for stem, parts in style.stems.items():
        for pi, part in enumerate(parts):
            inst = pretty_midi.Instrument(program=0 if part.is_drum else part.program, is_drum=part.is_drum,
                                          name=f"{stem}:{part.role}")
            rng = _rng(seed, "part", stem, pi)
            for bar in range(total_bars):
                kind = bar_kind[bar]
                if part.sections and kind not in part.sections and bar != last_bar:
                    continue
                _play_bar(inst, part, style, kind, bar_chords[bar], bar_time(bar), step_s, rng,
                          final_end_s=length_s if bar == last_bar else None)
            stems.setdefault(stem, []).append(len(pm.instruments))
            pm.instruments.append(inst)
    voice = pretty_midi.Instrument(program=MELODY_PROGRAM, name="vocal melody")
    for n in melody:
        voice.notes.append(pretty_midi.Note(velocity=90, pitch=n.pitch_midi, start=n.start_s,
                                            end=n.start_s + n.duration_s * 0.95))
    pm.instruments.append(voice)

    sections = tuple(SectionSpan(b.name, b.kind, round(bar_time(b.start_bar), 4),
                                 round(length_s if i == len(blocks) - 1 else bar_time(b.start_bar + b.bars), 4))
                     for i, b in enumerate(blocks))
    log.info("composed %d bars at %.1f bpm in %s: %d sung notes, %d lines", total_bars, bpm, style.key_name,
             len(melody), len(lines))
    return Composition(pm, tuple(melody), float(bpm), style.key_name, sections, length_s, stems, tuple(lines),
                       (low, high), tuple(bar_chords), tuple(notes))


def _voicing(chord: tuple[int, ...], octave: int) -> list[int]:
    base = 12 * (octave + 1)
    root = base + (chord[0] - base) % 12
    out = [root]
    for pc in chord[1:]:
        m = out[-1] + 1
        while m % 12 != pc:
            m += 1
        out.append(m)
    return out


def _play_bar(inst, part, style: MusicStyle, kind: str, chord: tuple[int, ...], t0: float, step_s: float,
              rng: np.random.Generator, final_end_s: float | None) -> None:
    import pretty_midi

    dyn = style.dynamics.get(kind, 0.8)

    def vel(step: int) -> int:
        accent = 10 if step == 0 else 4 if step % 4 == 0 else 0
        return int(np.clip(part.velocity * dyn + accent + rng.integers(-4, 5), 1, 127))

    def add(pitch: int, step: float, length_steps: float, v: int) -> None:
        start = t0 + step * step_s
        end = start + length_steps * step_s
        inst.notes.append(pretty_midi.Note(velocity=v, pitch=int(pitch), start=start, end=end))

    bar_steps = STEPS_PER_BAR
    if final_end_s is not None:
        # The held final chord: sustained parts ring to the end, rhythmic parts hit once on the downbeat.
        hold = (final_end_s - t0) / step_s
        if part.is_drum:
            for note in sorted(style.drums.get("full", {})):
                if 0 in style.drums["full"][note]:
                    add(note, 0, 2, vel(0))
            return
        if part.role in ("pad", "pad_high", "stabs", "arpeggio"):
            notes = _voicing(chord, part.octave + (1 if part.role == "pad_high" else 0))
        else:
            notes = [_voicing(chord, part.octave)[0]]
        for p in notes:
            add(p, 0, hold - 0.5, vel(0))
        return

    if part.is_drum:
        kit = style.drums.get(style.drum_level.get(kind, "light")) or next(iter(style.drums.values()))
        for note, steps in kit.items():
            for s in steps:
                add(note, s, 1, vel(s))
        return
    steps = style.rhythms.get(part.role, (0,))
    voicing = _voicing(chord, part.octave)
    if part.role == "pad":
        for p in voicing:
            add(p, 0, bar_steps, vel(0))
    elif part.role == "pad_high":
        for p in _voicing(chord, part.octave + 1)[1:] + [_voicing(chord, part.octave + 1)[0] + 12]:
            add(p, 0, bar_steps, vel(0))
    elif part.role == "stabs":
        for i, s in enumerate(steps):
            nxt = steps[i + 1] if i + 1 < len(steps) else bar_steps
            for p in voicing:
                add(p, s, min(2, nxt - s), vel(s))
    elif part.role == "ostinato":
        for i, s in enumerate(steps):
            nxt = steps[i + 1] if i + 1 < len(steps) else bar_steps
            add(voicing[0] + (12 if i % 4 == 3 else 0), s, max(1, nxt - s) * 0.9, vel(s))
    elif part.role == "arpeggio":
        cycle = voicing + [voicing[0] + 12, voicing[2] if len(voicing) > 2 else voicing[-1], voicing[1]]
        for i, s in enumerate(steps):
            add(cycle[i % len(cycle)], s, 3, vel(s))
    elif part.role == "bass":
        for i, s in enumerate(steps):
            nxt = steps[i + 1] if i + 1 < len(steps) else bar_steps
            add(voicing[0], s, max(1, nxt - s) * 0.95, vel(s))
    elif part.role == "timpani":
        fifth_below = voicing[2] - 12 if len(voicing) > 2 else voicing[0]
        for i, s in enumerate(steps):
            add(voicing[0] if i % 2 == 0 else fifth_below, s, 2, vel(s))
