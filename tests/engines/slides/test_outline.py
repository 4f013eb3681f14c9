"""Outline parsing: every slide kind, notes given or written from the content, and the limits."""

from __future__ import annotations

import pytest

from core.errors import BackendUnavailable, EngineError, InputError
from engines.slides.deck import Bullet
from engines.slides.outline import parse_outline
from engines.slides.text_outline import deck_from_text, outline_from_text, outline_from_topic

OUTLINE = """# Digital Clone Studio
Turning a photo and a voice into media

## What it does
- Clones a voice from a short sample
  - thirty seconds is enough
  * works offline
- Animates a portrait
Notes: Here is what the studio does.
It runs on an ordinary laptop.

## The portrait
![a painted face](portrait)
- Painted in oil

## Engines compared
| Engine | Speed | Quality |
|---|---|---|
| Voice | fast | good |
| Video | slow | better |

## Growth
```chart
type: line
Quarter, Users, Decks
Q1, 10, 4
Q2, 14, 9
Q3, 21, 15
```
???
Users grew every quarter.

## Wisdom
> Simplicity is the ultimate
> sophistication.
> — Leonardo da Vinci

## Section: Questions

## ---
Appendix
"""


@pytest.fixture
def resolver(samples):
    table = {"portrait": samples / "portraits" / "art_0.png"}
    return table.get


def test_every_kind_is_parsed_in_order(resolver, samples):
    deck = parse_outline(OUTLINE, resolver)
    assert [s.kind for s in deck.slides] == ["title", "bullets", "image", "table", "chart", "quote", "section",
                                             "section"]
    assert deck.title == "Digital Clone Studio"
    assert deck.subtitle == "Turning a photo and a voice into media"
    bullets = deck.slides[1].bullets
    assert bullets == (Bullet("Clones a voice from a short sample", 0), Bullet("thirty seconds is enough", 1),
                       Bullet("works offline", 1), Bullet("Animates a portrait", 0))
    assert deck.slides[1].notes == "Here is what the studio does.\nIt runs on an ordinary laptop."
    assert deck.slides[2].image_ref == samples / "portraits" / "art_0.png"
    assert deck.slides[2].bullets == (Bullet("Painted in oil"),)
    assert deck.slides[3].table == (("Engine", "Speed", "Quality"), ("Voice", "fast", "good"),
                                    ("Video", "slow", "better"))
    chart = deck.slides[4].chart
    assert chart.kind == "line" and chart.labels == ("Q1", "Q2", "Q3")
    assert chart.series == (("Users", (10.0, 14.0, 21.0)), ("Decks", (4.0, 9.0, 15.0)))
    assert deck.slides[4].notes == "Users grew every quarter."
    assert deck.slides[5].quote == "Simplicity is the ultimate sophistication."
    assert deck.slides[5].attribution == "Leonardo da Vinci"
    assert [s.title for s in deck.slides[6:]] == ["Questions", "Appendix"]


def test_every_slide_gets_spoken_notes(resolver):
    deck = parse_outline(OUTLINE, resolver)
    for s in deck.slides:
        assert len(s.notes.split()) >= 3, s
    notes = [s.notes for s in deck.slides]
    assert notes[0] == "Welcome to Digital Clone Studio. Turning a photo and a voice into media."
    assert notes[2] == "This slide covers The portrait. Painted in oil."
    assert "Engine" in notes[3] and "Voice and Video" in notes[3]
    assert notes[5] == "As Leonardo da Vinci put it: Simplicity is the ultimate sophistication."
    assert notes[6] == "Next, we turn to Questions."


def test_generated_notes_enumerate_bullets():
    deck = parse_outline("# T\n\n## Plan\n- Gather the data\n- Train the model\n  - on a CPU\n- Ship it.")
    assert deck.slides[1].notes == ("This slide covers Plan. First, Gather the data; second, Train the model, "
                                    "with on a CPU; and finally, Ship it.")


def test_chart_notes_name_the_peak():
    deck = parse_outline("## Sales\n```chart\ntype: pie\nRegion, Share\nNorth, 30\nSouth, 50\nWest, 20\n```")
    assert deck.slides[0].kind == "chart" and deck.slides[0].chart.kind == "pie"
    assert "Share peaks at South, with 50" in deck.slides[0].notes


@pytest.mark.parametrize("text", ["", "   \n\n", "just some words without headings"])
def test_empty_outline_says_what_an_outline_looks_like(text):
    with pytest.raises(InputError, match="## ") as e:
        parse_outline(text)
    assert "outline" in str(e.value)


def test_300_slides_are_refused_naming_the_limit():
    text = "# Big\n" + "".join(f"## Slide {i}\n- point {i}\n" for i in range(299))
    with pytest.raises(InputError, match=r"300 slides; at most 100"):
        parse_outline(text)


def test_outline_over_100k_characters_is_refused():
    with pytest.raises(InputError, match="100,000"):
        parse_outline("# T\n## S\n" + "- word\n" * 20_000)


def test_missing_image_names_the_reference_and_the_slide(tmp_path):
    with pytest.raises(InputError) as e:
        parse_outline("# T\n## Team photo\n![us](team.jpg)\n", lambda ref: None)
    msg = str(e.value)
    assert "'team.jpg'" in msg and "slide 2" in msg and "Team photo" in msg


def test_default_resolver_takes_file_paths(samples):
    path = samples / "portraits" / "art_1.png"
    deck = parse_outline(f"## Pic\n![x]({path})")
    assert deck.slides[0].image_ref == path
    with pytest.raises(InputError, match="nope.png"):
        parse_outline("## Pic\n![x](/nowhere/nope.png)")


@pytest.mark.parametrize("body, words", [
    ("```chart\nQuarter, Sales\nQ1, ten\n```", "'ten' is not a number"),
    ("```chart\ntype: radar\nA, B\nx, 1\n```", "'radar' is not supported"),
    ("```chart\nQuarter, Sales\n```", "needs a header row"),
    ("```chart\nA, B\nx, 1\n", "not closed"),
])
def test_bad_charts_say_what_is_wrong(body, words):
    with pytest.raises(InputError, match=words):
        parse_outline(f"## C\n{body}")


# ------------------------------------------------------------------ long text -> outline

ARTICLE = """# How solar panels work

1. Light and silicon
Solar panels are made of silicon cells. When sunlight hits a cell, photons knock electrons loose from their atoms.
The loose electrons flow through the cell as an electric current. This effect is called the photovoltaic effect.
Engineers discovered it in the nineteenth century.

2. From panel to plug
The current from the panels is direct current. An inverter turns direct current into alternating current for the home.
Extra electricity can be stored in batteries or sent to the grid. Many homes sell their extra electricity.

3. Costs
Solar electricity has become much cheaper over the last decade. Panel prices fell by about ninety percent.
Installation and permits now make up most of the cost of a home system.
"""


def test_long_text_splits_on_numbered_headings_keeps_key_sentences():
    outline = outline_from_text(ARTICLE)
    deck = parse_outline(outline)
    assert deck.title == "How solar panels work"
    assert [s.title for s in deck.slides[1:]] == ["Light and silicon", "From panel to plug", "Costs"]
    first = deck.slides[1]
    assert 1 <= len(first.bullets) <= 5
    sentences = {b.text for s in deck.slides[1:] for b in s.bullets}
    # Bullets are sentences of the text, verbatim.
    for b in sentences:
        assert b in ARTICLE.replace("\n", " ")
    # The notes carry the whole part, including what did not become a bullet.
    assert "nineteenth century" in first.notes and "photovoltaic effect" in first.notes
    assert "solar" in " ".join(b.text.lower() for b in first.bullets + deck.slides[3].bullets)


def test_plain_paragraphs_become_slides_with_titles():
    text = ("Rivers\n\n" + "Rivers carry water from the mountains to the sea. They shape valleys over millions of "
            "years. Many cities grew up along rivers because rivers brought trade.\n\n"
            "Floods are part of a river's life. A flood spreads fertile mud over the plain. Farmers have used "
            "floods for thousands of years, but floods also destroy homes.")
    deck = deck_from_text(text)
    assert deck.title == "Rivers" and len(deck.slides) == 3
    assert deck.slides[1].title.startswith("Rivers carry water")
    assert deck.slides[2].bullets[0].text == "Floods are part of a river's life."


def test_topic_without_llm_is_backend_unavailable(settings):
    with pytest.raises(BackendUnavailable, match="a topic alone needs an LLM"):
        outline_from_topic("How solar panels work", settings, None)


def test_topic_with_llm_returns_a_parseable_outline(settings):
    seen = {}

    def llm(s, system, user):
        seen.update(system=system, user=user)
        return "```markdown\n## Light\n- photons\nNotes: Light frees electrons.\n## Current\n- flows\n```"

    text = outline_from_topic("Solar panels", settings, llm, slides=4)
    assert "Topic: Solar panels" in seen["user"] and "4 slides" in seen["user"]
    deck = parse_outline(text)
    assert [s.title for s in deck.slides] == ["Solar panels", "Light", "Current"]
    with pytest.raises(EngineError, match="did not return a slide outline"):
        outline_from_topic("Solar panels", settings, lambda *a: "Sorry, I cannot help.")
