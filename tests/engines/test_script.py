"""The script writer of clone videos: a structured script from a topic or a text, sized to the length."""

from __future__ import annotations

import pytest

from core.errors import EngineError, InputError
from engines.script import WORDS_PER_S, ScriptRequest, is_script, points_for, write_script
from engines.slides import parse_outline


def _parts(text: str):
    deck = parse_outline(text)
    return deck, [s.notes for s in deck.slides]


@pytest.mark.parametrize("length,points", [(20, 3), (60, 4), (120, 5)])
def test_a_topic_gives_title_hook_points_and_close_sized_to_the_length(length, points):
    text = write_script(ScriptRequest("why bees matter for our food", "explainer", length))
    deck, said = _parts(text)
    assert deck.title == "Why bees matter for our food"
    kinds = [s.kind for s in deck.slides]
    assert kinds[0] == "title" and len(deck.slides) == points + 2  # hook, points, close
    assert points_for(length) == points
    assert all(s.strip() for s in said), said  # every part has words to say
    assert "why bees matter for our food" in said[0] and "Thanks for watching" in said[-1]
    words = sum(len(s.split()) for s in said)
    assert words <= length * WORDS_PER_S + 5, words  # no longer than the length at the studio voices' pace
    # Sized to the length, not just under it (the 120 s script runs out of the writer's sentences).
    assert words >= min(length * WORDS_PER_S, 280) * 0.85, words
    # A clone video's script leaves room for its pauses: fewer words for the same length.
    fewer = sum(len(s.split()) for s in _parts(write_script(ScriptRequest("why bees matter for our food", "explainer",
                                                                           length, spoken_s=length - 6)))[1])
    assert fewer < words or words < length * WORDS_PER_S * 0.9


def test_longer_videos_say_more():
    short, long_ = (sum(len(s.split()) for s in _parts(write_script(ScriptRequest("solar panels", "explainer", n)))[1])
                    for n in (20, 60))
    assert long_ > 1.8 * short


def test_a_pasted_text_is_presented_in_its_own_words():
    text = ("Honey bees pollinate a third of the crops we eat. Without them, apples and almonds would be rare. "
            "Wild bees matter as much as kept ones. Pesticides and lost meadows threaten both. "
            "Planting flowers in a garden helps them. Cities can keep bees on their roofs.")
    _, said = _parts(write_script(ScriptRequest(text, "explainer", 40)))
    body = " ".join(said[1:-1])
    assert "apples and almonds" in body and "Planting flowers" in body
    sentences = [s.strip() for s in text.split(". ")]
    assert all(any(s.rstrip(".") in x for s in sentences) for x in body.split(". ") if x), body


def test_a_script_is_used_as_it_is_and_a_language_model_writes_when_there_is_one():
    mine = "# My video\nNotes: Hello.\n\n## One point\n- a\nNotes: Just this.\n"
    assert is_script(mine) and write_script(ScriptRequest(mine)) == mine
    calls = []

    def llm(settings, system, user):
        calls.append(user)
        return "```markdown\n## Point\nNotes: said\n```"

    out = write_script(ScriptRequest("tides", "explainer", 30), None, llm)
    assert out.startswith("# Tides\n") and "## Point" in out and "about 99 words (30 seconds spoken)" in calls[0]
    with pytest.raises(EngineError, match="did not return a script"):
        write_script(ScriptRequest("tides"), None, lambda *a: "Sure! Here you go.")


@pytest.mark.parametrize("req,message", [
    (ScriptRequest(""), "the idea is empty"),
    (ScriptRequest("x", "opera"), "kind 'opera' is not offered: use one of explainer, announcement"),
    (ScriptRequest("x", "explainer", 5), "10 to 300 seconds"),
    (ScriptRequest("x", "explainer", float("nan")), "10 to 300 seconds"),
    (ScriptRequest("x" * 100_001), "at most 100,000"),
])
def test_bad_requests_are_refused_by_name(req, message):
    with pytest.raises(InputError, match=message):
        write_script(req)
