"""A long pasted text -> an outline, offline; a topic alone -> an outline through an LLM.

The text is split on its own structure (Markdown headings, numbered headings such as
"2. Results" or "3.1 Method", otherwise blank-line paragraphs). In each part the key
sentences, scored by position, word frequency and length, become the bullets; the part's
full text goes into the speaker notes so the narration tells the whole story.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import BackendUnavailable, EngineError, InputError
from engines.slides.deck import MAX_SLIDES, Deck
from engines.slides.outline import MAX_OUTLINE_CHARS, parse_outline

log = logging.getLogger(__name__)

# Bullets kept per slide, at most.
MAX_BULLETS = 5
# A part with more sentences than this is spread over several slides.
MAX_SENTENCES_PER_SLIDE = 10
# Longest slide title made from a sentence, in words.
TITLE_WORDS = 7

_STOP = set(["a", "an", "the", "and", "or", "but", "if", "then", "so", "of", "to", "in", "on", "at", "by", "for",
             "with", "from", "as", "is", "are", "was", "were", "be", "been", "being", "it", "its", "this", "that",
             "these", "those", "there", "here", "we", "you", "he", "she", "they", "i", "our", "your", "their",
             "his", "her", "them", "us", "me", "my", "not", "no", "do", "does", "did", "have", "has", "had",
             "will", "would", "can", "could", "should", "may", "might", "must", "shall", "than", "too", "very",
             "just", "also", "into", "over", "under", "about", "after", "before", "such", "which", "who", "whom",
             "whose", "what", "when", "where", "why", "how", "all", "any", "each", "few", "more", "most", "other",
             "some", "own", "same", "only", "both", "while", "because", "until", "again", "further", "once",
             "out", "up", "down", "off", "per", "via"])

LlmFn = Callable[..., str]


@dataclass(frozen=True)
class _Part:
    title: str
    text: str


def _sentences(text: str) -> list[str]:
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        return []
    parts = re.split(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])", text)
    return [p.strip() for p in parts if p.strip()]


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-zA-Z][a-zA-Z'-]+", text.lower()) if w not in _STOP and len(w) > 2]


_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_NUM_HEADING = re.compile(r"^\s*((?:\d+\.)+\d*|\d+\)|[IVX]+\.)\s+([A-Z][^.!?]{0,80})$")


def _heading(line: str) -> str | None:
    m = _MD_HEADING.match(line)
    if m:
        return m.group(2).strip()
    m = _NUM_HEADING.match(line.rstrip())
    if m and len(m.group(2).split()) <= 12:
        return m.group(2).strip().rstrip(":")
    return None


def _split(text: str) -> tuple[str, list[_Part]]:
    """(deck title, parts). Headings win; otherwise each blank-line paragraph is a part."""
    lines = text.splitlines()
    heads = [(i, _heading(ln)) for i, ln in enumerate(lines)]
    heads = [(i, h) for i, h in heads if h]
    title = ""
    parts: list[_Part] = []
    if heads:
        first_i, first_h = heads[0]
        md_top = _MD_HEADING.match(lines[first_i])
        if md_top and len(md_top.group(1)) == 1 and sum(1 for i, _ in heads if lines[i].lstrip().startswith("# ")) == 1:
            title = first_h
            heads = heads[1:]
        intro = "\n".join(lines[first_i + 1:heads[0][0]] if heads else lines[first_i + 1:]) if title else \
            "\n".join(lines[:first_i])
        if intro.strip():
            parts.append(_Part("Introduction", intro))
        for k, (i, h) in enumerate(heads):
            end = heads[k + 1][0] if k + 1 < len(heads) else len(lines)
            body = "\n".join(lines[i + 1:end])
            parts.append(_Part(h, body))
    else:
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
        if paragraphs and len(paragraphs[0]) <= 90 and not re.search(r"[.!?]$", paragraphs[0]) and len(paragraphs) > 1:
            title, paragraphs = paragraphs[0], paragraphs[1:]
        # Very short paragraphs are merged with the next so each slide has something to say.
        merged: list[str] = []
        for p in paragraphs:
            if merged and len(merged[-1]) < 120:
                merged[-1] += "\n" + p
            else:
                merged.append(p)
        parts = [_Part("", p) for p in merged]
    return title, parts


def _score(sentences: list[str], freq: Counter) -> list[float]:
    top = max(freq.values()) if freq else 1
    scores = []
    for pos, s in enumerate(sentences):
        words = _words(s)
        n = len(s.split())
        f = sum(freq[w] / top for w in words) / math.sqrt(len(words)) if words else 0.0
        position = 1.0 / (1 + pos)
        length = 1.0 if 6 <= n <= 30 else (0.5 if 4 <= n <= 45 else 0.1)
        scores.append((0.6 * f + 0.4 * position) * length)
    return scores


def _title_from(sentence: str) -> str:
    words = re.sub(r"[^\w\s'-]", "", sentence).split()
    cut = words[:TITLE_WORDS]
    while cut and cut[-1].lower() in _STOP:
        cut.pop()
    return " ".join(cut) or "Overview"


def _clean(text: str) -> str:
    # No line of the generated outline may start a heading, a table, a quote or a fence.
    return re.sub(r"\s+", " ", text).strip().lstrip("#|>`-*+ ").strip()


def outline_from_text(text: str) -> str:
    """A Markdown outline (the format parse_outline reads) from a long plain or Markdown text."""
    if text is None or not str(text).strip():
        raise InputError("the text is empty: paste an article, an essay or notes to turn into slides")
    text = str(text).replace("\r\n", "\n")
    if len(text) > MAX_OUTLINE_CHARS:
        raise InputError(f"the text has {len(text):,} characters; at most {MAX_OUTLINE_CHARS:,} are accepted")
    title, parts = _split(text)
    freq = Counter(_words(text))
    slides: list[tuple[str, list[str], str]] = []
    for part in parts:
        sentences = _sentences(part.text)
        if not sentences:
            if part.title:
                slides.append((f"Section: {part.title}", [], ""))
            continue
        chunks = [sentences[i:i + MAX_SENTENCES_PER_SLIDE] for i in range(0, len(sentences), MAX_SENTENCES_PER_SLIDE)]
        for c, chunk in enumerate(chunks):
            scores = _score(chunk, freq)
            keep = max(1, min(MAX_BULLETS, math.ceil(len(chunk) / 2)))
            best = sorted(sorted(range(len(chunk)), key=lambda i: -scores[i])[:keep])
            name = part.title or _title_from(chunk[best[0]])
            if len(chunks) > 1:
                name = f"{name} ({c + 1}/{len(chunks)})"
            slides.append((name, [chunk[i] for i in best], " ".join(chunk)))
    if not slides:
        raise InputError("the text has no sentences to make slides from")
    if len(slides) + 1 > MAX_SLIDES:
        raise InputError(f"the text would make {len(slides) + 1} slides; at most {MAX_SLIDES} slides are allowed "
                         f"in a deck. Paste a shorter text or split it into several decks.")
    title = title or _title_from(_sentences(text)[0])
    out = [f"# {_clean(title)}", ""]
    for name, bullets, notes in slides:
        out.append(f"## {_clean(name)}")
        out.extend(f"- {_clean(b)}" for b in bullets)
        if notes:
            out.append(f"Notes: {_clean(notes)}")
        out.append("")
    return "\n".join(out)


def looks_like_outline(text: str) -> bool:
    """True when the text is already a slide outline (has '## ' slide headings)."""
    return bool(re.search(r"^##\s+\S", str(text or ""), re.MULTILINE))


def deck_from_text(text: str, theme: str = "dark") -> Deck:
    """outline_from_text, parsed into a Deck (every slide with notes). A pasted text shows no images: a
    Markdown image in it names no file."""
    return parse_outline(outline_from_text(text), lambda ref: None, theme=theme,
                         image_hint="a pasted text shows no images; write an outline ('## ' for each slide) "
                                    "to put images on slides")


SYSTEM_PROMPT = (
    "You write slide outlines in Markdown. Format: '# Title' then a one-line subtitle; then each slide as "
    "'## Slide title' with 3 to 5 short '- ' bullets (sub-bullets indented two spaces), then a line "
    "'Notes: ' with two or three spoken sentences for the presenter. Optionally a quote slide ('> quote' "
    "and '> — Author'), a pipe table, or a ```chart block (first line 'type: bar', then 'Label, Series' "
    "and rows of numbers). Use real facts only. Output only the outline.")


def outline_from_topic(topic: str, settings, llm: LlmFn | None = None, slides: int = 8) -> str:
    """An outline about `topic` written by `llm(settings, system, user) -> str`.

    Without an LLM a topic is not enough to make a deck: BackendUnavailable says what to do."""
    topic = re.sub(r"\s+", " ", str(topic or "")).strip()
    if not topic:
        raise InputError("the topic is empty: say what the deck is about, e.g. 'How solar panels work'")
    if len(topic) > 500:
        raise InputError(f"the topic has {len(topic)} characters; keep it under 500, or paste it as a text")
    if not (3 <= int(slides) <= 30):
        raise InputError(f"a generated deck has 3 to 30 slides; got {slides}")
    if llm is None:
        raise BackendUnavailable("a topic alone needs an LLM: set OPENAI_API_KEY (and OPENAI_BASE_URL for a "
                                 "compatible local server), or paste a text/outline instead")
    user = f"Topic: {topic}\nWrite an outline of {int(slides)} slides after the title slide."
    text = llm(settings, SYSTEM_PROMPT, user)
    text = re.sub(r"^```(?:markdown|md)?\s*\n|\n```\s*$", "", (text or "").strip())
    if "## " not in text:
        raise EngineError("the LLM did not return a slide outline; try again or paste an outline")
    if not text.lstrip().startswith("# "):
        text = f"# {topic}\n\n{text}"
    return text
