"""Splitting text into sentences and checking it."""

from __future__ import annotations

import pytest

from core.errors import InputError
from engines.voice.text import MAX_CHUNK_CHARS, MAX_TEXT_CHARS, split_text


def test_sentences_paragraphs_and_abbreviations():
    chunks = split_text("Hello there, Mr. Smith! How are you? J. R. R. Tolkien wrote it, e.g. in 1937.\n\nNew part.")
    assert [c.text for c in chunks] == [
        "Hello there, Mr. Smith!", "How are you?", "J. R. R. Tolkien wrote it, e.g. in 1937.", "New part."]
    assert [c.pause for c in chunks] == ["sentence", "sentence", "paragraph", "paragraph"]
    assert chunks[0].pause_s < chunks[2].pause_s


def test_long_sentences_are_split_at_clauses_and_words():
    long = ", ".join(["the river ran on through the silent valley"] * 20) + "."
    chunks = split_text(long)
    assert len(chunks) > 1 and all(len(c.text) <= MAX_CHUNK_CHARS for c in chunks)
    assert " ".join(c.text for c in chunks).replace(" ", "") == long.replace(" ", "")
    assert chunks[0].pause == "clause" and chunks[-1].pause == "paragraph"
    words = split_text("word " * 200)
    assert all(len(c.text) <= MAX_CHUNK_CHARS for c in words) and sum(len(c.text.split()) for c in words) == 200


@pytest.mark.parametrize("text, message", [
    ("", "empty"), ("   \n ", "empty"), ("... !!", "empty"),
    ("a" * (MAX_TEXT_CHARS + 1), "at most 20,000"), ("x" * 100_000, "100,000 characters"),
])
def test_bad_text_is_refused_with_the_limit(text, message):
    with pytest.raises(InputError, match=message):
        split_text(text)
