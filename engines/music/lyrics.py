"""Lyrics: parsing ([Verse]/[Chorus]/[Bridge] sections or plain stanzas), syllables, and a writer.

The offline writer builds verse/chorus/verse/chorus/bridge/chorus from the theme and the style's
word banks (assets/music_styles.json) with the same syllable count on every line of a section and
real end rhymes from the CMU Pronouncing Dictionary. A language model, when the caller passes one,
writes instead; if it is unavailable the offline writer takes over and says so in a note.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.errors import BackendUnavailable, InputError

log = logging.getLogger(__name__)

MAX_LYRICS_CHARS = 4000
MAX_THEME_CHARS = 500
# Longest song title and mood accepted, in characters.
MAX_TITLE_CHARS = 200
MAX_MOOD_CHARS = 500
SECTION_KINDS = ("intro", "verse", "chorus", "bridge", "outro")
# Header aliases -> section kind.
_ALIASES = {"pre-chorus": "verse", "prechorus": "verse", "hook": "chorus", "refrain": "chorus",
            "interlude": "bridge", "breakdown": "bridge", "middle 8": "bridge"}
_HEADER = re.compile(r"^\s*[\[(]\s*([A-Za-z][A-Za-z\- ]*?)\s*(\d+)?\s*[\])]\s*:?\s*$"
                     r"|^\s*([A-Za-z\-]+)\s*(\d+)?\s*:\s*$")
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_VOWELS = "aeiouy"


@dataclass(frozen=True)
class Section:
    """One part of a song's lyrics."""

    # intro, verse, chorus, bridge or outro.
    kind: str
    # The sung lines, in order.
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Lyrics:
    # The sections in singing order.
    sections: tuple[Section, ...]
    # Title of the song ("" if none).
    title: str = ""

    def to_text(self) -> str:
        """Text with [Verse]/[Chorus]/... headers that `parse_lyrics` reads back to the same lyrics."""
        blocks = [f"[{s.kind.capitalize()}]\n" + "\n".join(s.lines) for s in self.sections]
        return "\n\n".join(blocks) + "\n"

    @property
    def lines(self) -> list[str]:
        return [line for s in self.sections for line in s.lines]


# ------------------------------------------------------------------ parsing


def check_lyrics_text(text: str) -> str:
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > MAX_LYRICS_CHARS:
        raise InputError(f"lyrics are {len(text)} characters long; the limit is {MAX_LYRICS_CHARS} characters")
    if not text.strip():
        raise InputError("the lyrics are empty: write some lines, or leave them blank to have them written")
    return text


def _header_kind(line: str) -> str | None:
    m = _HEADER.match(line)
    if not m:
        return None
    name = (m.group(1) or m.group(3) or "").strip().lower()
    name = _ALIASES.get(name, name)
    return name if name in SECTION_KINDS else None


def parse_lyrics(text: str, title: str = "") -> Lyrics:
    """Lyrics from text with [Verse]/[Chorus]/[Bridge]/[Intro]/[Outro] headers, or plain stanzas.

    Plain text: blank-line separated stanzas; a stanza that repeats an earlier one is a chorus,
    the others are verses. Over MAX_LYRICS_CHARS or without any words -> InputError."""
    text = check_lyrics_text(text)
    sections: list[Section] = []
    kind: str | None = None
    lines: list[str] = []
    has_headers = any(_header_kind(line) for line in text.split("\n"))

    def flush() -> None:
        nonlocal lines
        if lines:
            sections.append(Section(kind or "verse", tuple(lines)))
        lines = []

    for raw in text.split("\n"):
        line = raw.strip()
        header = _header_kind(line) if line else None
        if header:
            flush()
            kind = header
        elif not line:
            if not has_headers:
                flush()
        elif line.startswith("[") and line.endswith("]"):
            continue  # an unknown tag such as [Guitar solo]: not sung
        elif _WORD.search(line):
            lines.append(re.sub(r"\s+", " ", line))
    flush()
    if not sections:
        raise InputError("the lyrics have no words to sing")
    if not has_headers:
        seen: set[tuple[str, ...]] = set()
        repeated = {s.lines for s in sections if s.lines in seen or seen.add(s.lines)}
        sections = [Section("chorus" if s.lines in repeated else "verse", s.lines) for s in sections]
    return Lyrics(tuple(sections), title)


# ------------------------------------------------------------------ syllables


def words_of(line: str) -> list[str]:
    return _WORD.findall(line)


def _vowel_groups(word: str) -> list[tuple[int, int]]:
    w = word.lower()
    groups, i = [], 0
    while i < len(w):
        if w[i] in _VOWELS and not (w[i] == "y" and i == 0):
            j = i
            while j < len(w) and w[j] in _VOWELS:
                j += 1
            groups.append((i, j))
            i = j
        else:
            i += 1
    # A final silent e ("stone", "fire") is not a syllable of its own, unless it is "-le" ("candle").
    if len(groups) > 1 and w.endswith("e") and groups[-1] == (len(w) - 1, len(w)) and not w.endswith("le"):
        groups.pop()
    return groups


@functools.lru_cache(maxsize=20000)
def count_syllables(word: str) -> int:
    """Syllables in a word: CMU Pronouncing Dictionary, else a spelling heuristic (at least 1)."""
    import pronouncing

    w = word.lower().strip("'")
    if not w:
        return 0
    phones = pronouncing.phones_for_word(w)
    if phones:
        return max(1, pronouncing.syllable_count(phones[0]))
    return max(1, len(_vowel_groups(w)))


def line_syllable_count(line: str) -> int:
    return sum(count_syllables(w) for w in words_of(line))


@functools.lru_cache(maxsize=20000)
def syllabify(word: str) -> tuple[str, ...]:
    """Split a word into `count_syllables(word)` written pieces ("glory" -> ("glo", "ry")); approximate."""
    n = count_syllables(word)
    if n <= 1:
        return (word,)
    groups = _vowel_groups(word)
    # Too many vowel groups: merge the closest; too few: split the longest group.
    while len(groups) > n:
        k = min(range(len(groups) - 1), key=lambda i: groups[i + 1][0] - groups[i][1])
        groups[k:k + 2] = [(groups[k][0], groups[k + 1][1])]
    while len(groups) < n:
        k = max(range(len(groups)), key=lambda i: groups[i][1] - groups[i][0])
        a, b = groups[k]
        if b - a >= 2:
            groups[k:k + 1] = [(a, a + 1), (a + 1, b)]
        else:  # no vowel to split: cut the word evenly instead
            size = max(1, len(word) // n)
            cuts = [i * size for i in range(n)] + [len(word)]
            return tuple(word[cuts[i]:cuts[i + 1]] for i in range(n))
    # Cut between vowel groups: one consonant goes to the next syllable, a cluster is split after its first.
    cuts = [0]
    for (_a1, b1), (a2, _b2) in zip(groups, groups[1:]):
        gap = a2 - b1
        cuts.append(b1 if gap <= 1 else b1 + 1)
    cuts.append(len(word))
    pieces = tuple(word[cuts[i]:cuts[i + 1]] for i in range(len(cuts) - 1))
    return pieces


def line_syllables(line: str) -> list[tuple[str, str, int]]:
    """(syllable, word, index in word) for every syllable of a line, in order."""
    out = []
    for w in words_of(line):
        for i, syl in enumerate(syllabify(w)):
            out.append((syl, w, i))
    return out


def rhymes_with(a: str, b: str) -> bool:
    """True if the CMU dictionary lists b among a's rhymes (or a's rhyming part equals b's)."""
    import pronouncing

    a, b = a.lower(), b.lower()
    if a == b:
        return False
    pa, pb = pronouncing.phones_for_word(a), pronouncing.phones_for_word(b)
    if not pa or not pb:
        return False
    return any(pronouncing.rhyming_part(x) == pronouncing.rhyming_part(y) for x in pa for y in pb)


# ------------------------------------------------------------------ the offline writer

_STOP = set(["a", "an", "the", "of", "to", "in", "on", "at", "for", "and", "or", "but", "with", "from", "by",
             "into", "over", "under", "is", "are", "was", "were", "be", "been", "my", "your", "our", "their",
             "his", "her", "its", "this", "that", "these", "those", "i", "you", "we", "they", "he", "she", "it",
             "me", "us", "them", "who", "what", "when", "where", "why", "how", "about", "as", "so", "very",
             "just", "song"])

# Line bodies ending in a noun ({end}) or in an adverb-like word ({end_adv}). Other slots: {adj}
# adjective, {noun}, {verb} (base form), {t} a word of the theme.
_NOUN_LINES = (
    "{verb} beneath the {adj} {end}", "hear the {noun} of the {end}", "we {verb} into the {end}",
    "the {adj} {noun} and the {end}", "the {t} is calling from the {end}", "carry the {noun} to the {end}",
    "under the {adj} {end}", "we are the {noun} of the {end}", "far beyond the {adj} {end}",
    "the {t} will {verb} through the {end}", "a {adj} {noun} in the {end}", "we {verb} for the {adj} {end}",
)
_ADV_LINES = (
    "we {verb} {end}", "the {t} will {verb} {end}", "oh {t}, we {verb} {end}", "the {adj} {noun} will {verb} {end}",
    "together we {verb} {end}", "and now we {verb} {end}", "the {noun} will {verb} {end}",
    "the {t} and I {verb} {end}", "we {verb} with the {t} {end}",
)
_PADS = ((), ("and",), ("oh",), ("now",), ("oh", "and"), ("so", "now"), ("oh", "oh"))
# Section plan: kind, lines, syllables per line, rhyme scheme.
_PLAN = (("verse", 4, 8, "AABB"), ("chorus", 4, 7, "ABAB"), ("verse", 4, 8, "AABB"), ("chorus", 4, 7, "ABAB"),
         ("bridge", 2, 6, "AA"), ("chorus", 4, 7, "ABAB"))

LYRICS_SYSTEM_PROMPT = (
    "You write song lyrics. Answer with the lyrics only, using the section headers [Verse], [Chorus] and "
    "[Bridge] on their own lines. Structure: verse, chorus, verse, chorus, bridge, chorus. Four lines per "
    "verse and chorus, two to four in the bridge; lines of 6 to 9 syllables with the same count within a "
    "section; rhyme the line ends. No commentary, no titles, no stage directions.")


def _theme_words(theme: str) -> list[str]:
    return [w.lower() for w in words_of(theme) if w.lower() not in _STOP and len(w) > 1]


def _rhyme_groups(words: list[str]) -> list[list[str]]:
    import pronouncing

    groups: dict[str, list[str]] = {}
    for w in dict.fromkeys(words):
        phones = pronouncing.phones_for_word(w)
        if phones:
            groups.setdefault(pronouncing.rhyming_part(phones[0]), []).append(w)
    return [g for g in groups.values() if len(g) >= 2]


class _Writer:
    def __init__(self, theme: str, style, mood: str, seed: int) -> None:
        from engines.music.styles import moods

        self.rng = np.random.default_rng(seed)
        bank = style.words
        mood_bank = moods().get(mood.strip().lower(), {})
        self.adj = list(bank["adjectives"]) + list(mood_bank.get("adjectives", ()))
        self.verbs = list(bank["verbs"]) + list(mood_bank.get("verbs", ()))
        self.nouns = list(bank["nouns"])
        self.theme = _theme_words(theme) or list(self.nouns[:1])
        self.end_nouns = list(dict.fromkeys(bank["end_nouns"]))
        self.end_adv = [w for w in dict.fromkeys(bank["end_adverbs"]) if w not in self.end_nouns]
        self.groups = _rhyme_groups(self.end_nouns + self.end_adv)
        self.used: set[str] = set()

    def pick(self, items: list[str]) -> str:
        return items[int(self.rng.integers(len(items)))]

    def rhyme_pair(self) -> tuple[str, str]:
        fresh = [[w for w in g if w not in self.used] for g in self.groups]
        fresh = [g for g in fresh if len(g) >= 2] or [g for g in self.groups]
        g = fresh[int(self.rng.integers(len(fresh)))]
        a, b = (g[i] for i in self.rng.permutation(len(g))[:2])
        self.used.update((a, b))
        return a, b

    def line(self, end: str, target: int, hook: bool = False) -> str:
        templates = _NOUN_LINES if end in self.end_nouns else _ADV_LINES
        best, best_err = "", 99
        for attempt in range(400):
            tpl = templates[int(self.rng.integers(len(templates)))]
            if hook and "{t}" not in tpl and attempt < 200:
                continue
            body = tpl.format(adj=self.pick(self.adj), noun=self.pick(self.nouns), verb=self.pick(self.verbs),
                              t=self.pick(self.theme), end=end)
            body = re.sub(r"\ba (?=[aeiou])", "an ", body)
            n = line_syllable_count(body)
            for pad in (_PADS[:1] if attempt < 250 else _PADS):
                if n + len(pad) == target:
                    text = " ".join((*pad, body))
                    return text[0].upper() + text[1:]
            if abs(n - target) < best_err:
                best, best_err = body, abs(n - target)
        return best[0].upper() + best[1:]

    def section(self, kind: str, n_lines: int, syllables: int, scheme: str) -> Section:
        ends: dict[str, list[str]] = {}
        for letter in dict.fromkeys(scheme):
            ends[letter] = list(self.rhyme_pair())
        lines = []
        for i, letter in enumerate(scheme[:n_lines]):
            end = ends[letter].pop(0)
            lines.append(self.line(end, syllables, hook=(kind == "chorus" and i == 0)))
        return Section(kind, tuple(lines))


def write_offline(theme: str, title: str = "", music_style: str = "epic", mood: str = "", seed: int = 0) -> Lyrics:
    """Verse/chorus/verse/chorus/bridge/chorus with equal syllable counts per section and rhymed line ends."""
    from engines.music.styles import get_style

    writer = _Writer(theme, get_style(music_style), mood, seed)
    made: dict[str, Section] = {}
    sections = []
    for kind, n, syl, scheme in _PLAN:
        if kind == "chorus" and "chorus" in made:
            sections.append(made["chorus"])  # the chorus comes back unchanged
            continue
        s = writer.section(kind, n, syl, scheme)
        made.setdefault(kind, s)
        sections.append(s)
    return Lyrics(tuple(sections), title.strip())


def check_theme(theme: str) -> str:
    theme = (theme or "").strip()
    if not theme:
        raise InputError("give a theme for the lyrics, e.g. 'a knight returning home'")
    if len(theme) > MAX_THEME_CHARS:
        raise InputError(f"the theme is {len(theme)} characters long; the limit is {MAX_THEME_CHARS}")
    return theme


def check_words(title: str = "", mood: str = "") -> None:
    """InputError when a song's title or mood is too long to use."""
    for what, text, limit in (("title", title, MAX_TITLE_CHARS), ("mood", mood, MAX_MOOD_CHARS)):
        if len(text or "") > limit:
            raise InputError(f"the {what} is {len(text):,} characters long; the limit is {limit}")


def write_lyrics(theme: str, title: str = "", music_style: str = "epic", mood: str = "", seed: int = 0,
                 llm: Callable[[str, str], str] | None = None) -> tuple[Lyrics, list[str]]:
    """Lyrics for a theme, and notes for the user (e.g. that the language model was unavailable).

    `llm(system, user) -> text` writes them when given; its text is read with `parse_lyrics`.
    Empty theme -> InputError; unknown style -> InputError listing the styles."""
    from engines.music.styles import get_style

    theme = check_theme(theme)
    check_words(title, mood)
    style = get_style(music_style)
    notes: list[str] = []
    if llm is not None:
        user = (f"Theme: {theme}\nTitle: {title or '(none)'}\nMusic style: {style.label}\n"
                f"Mood: {mood or 'fitting the style'}")
        try:
            text = llm(LYRICS_SYSTEM_PROMPT, user)
            return parse_lyrics(text[:MAX_LYRICS_CHARS], title.strip()), notes
        except BackendUnavailable as e:
            notes.append(f"the language model is unavailable ({e}); the lyrics were written offline")
        except InputError as e:
            notes.append(f"the language model's answer was not usable lyrics ({e}); the lyrics were written offline")
    return write_offline(theme, title, style.name, mood, seed), notes
