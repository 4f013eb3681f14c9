"""Text for speech: checks, and splitting into sentences that are synthesised one by one.

Each sentence is its own chunk, so any one of them can be regenerated without redoing
the rest; the pause after it depends on how it ended (comma, sentence, paragraph).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import InputError

# About 20 minutes of speech; longer texts should be split by the user (or a deck's slides).
MAX_TEXT_CHARS = 20_000
# A chunk longer than this is split further at commas, semicolons or dashes.
MAX_CHUNK_CHARS = 280

PAUSE_S = {"clause": 0.18, "sentence": 0.38, "paragraph": 0.75}

_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"')\]]*\s+")
_CLAUSE_BREAK = re.compile(r"(?<=[,;:—–])\s+")


@dataclass(frozen=True)
class Chunk:
    text: str
    # The pause that follows this chunk: "clause", "sentence" or "paragraph" (the last chunk too).
    pause: str

    @property
    def pause_s(self) -> float:
        return PAUSE_S[self.pause]


def check_text(text: str | None) -> str:
    text = (text or "").replace("\r\n", "\n").strip()
    if not text or not re.search(r"\w", text):
        raise InputError("the text is empty; type what should be said")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(
            f"the text is {len(text):,} characters; at most {MAX_TEXT_CHARS:,} can be spoken in one go "
            "(about 20 minutes). Split it into parts."
        )
    return text


def split_text(text: str) -> list[Chunk]:
    """Sentences (and clauses of over-long sentences), each with the pause that follows it."""
    text = check_text(text)
    chunks: list[Chunk] = []
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    for p in paragraphs:
        p = re.sub(r"\s+", " ", p).strip()
        sentences = _sentences(p)
        for s in sentences:
            pieces = _split_long(s)
            for i, piece in enumerate(pieces):
                chunks.append(Chunk(piece, "clause" if i < len(pieces) - 1 else "sentence"))
        if chunks:
            chunks[-1] = Chunk(chunks[-1].text, "paragraph")
    return [c for c in chunks if re.search(r"\w", c.text)]


_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "st", "prof", "sr", "jr", "vs", "etc", "e.g", "i.e", "no", "fig", "mt", "gen",
    "col", "lt", "sgt", "capt", "rev", "hon", "approx", "dept", "est", "inc", "ltd", "co", "jan", "feb", "mar",
    "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
}


def _sentences(paragraph: str) -> list[str]:
    """Split at sentence ends, but not after abbreviations ("Mr.") or initials ("J. R. R.")."""
    out, start = [], 0
    for m in _SENTENCE_END.finditer(paragraph):
        before = paragraph[start:m.start()].rstrip("\"')]")
        last_word = before.rsplit(" ", 1)[-1].rstrip(".").lower()
        if before.endswith(".") and (last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha())):
            continue
        out.append(paragraph[start:m.start()].strip())
        start = m.end()
    out.append(paragraph[start:].strip())
    return [s for s in out if s]


def _split_long(sentence: str) -> list[str]:
    if len(sentence) <= MAX_CHUNK_CHARS:
        return [sentence]
    parts, current = [], ""
    for clause in _CLAUSE_BREAK.split(sentence):
        if current and len(current) + len(clause) + 1 > MAX_CHUNK_CHARS:
            parts.append(current)
            current = clause
        else:
            current = f"{current} {clause}".strip()
    if current:
        parts.append(current)
    # A clause still too long (no punctuation): cut at word boundaries.
    out = []
    for part in parts:
        while len(part) > MAX_CHUNK_CHARS:
            cut = part.rfind(" ", 0, MAX_CHUNK_CHARS)
            cut = cut if cut > 0 else MAX_CHUNK_CHARS
            out.append(part[:cut].strip())
            part = part[cut:].strip()
        if part:
            out.append(part)
    return out
