"""Outline -> narrated .pptx -> python-pptx reopens it, LibreOffice draws it, read_pptx reads it back.

One deck is written and rendered once for the module (LibreOffice takes a few seconds)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.audio import Audio
from core.errors import InputError
from engines.slides.narration import PAUSE_S, narrate
from engines.slides.outline import parse_outline
from engines.slides.read import read_pptx
from engines.slides.render import render_slides, render_thumbnails
from engines.slides.themes import get_theme, rgb
from engines.slides.write import SLIDE_H_IN, SLIDE_W_IN, write_pptx
from engines.voice.espeak import synthesize

LONG = " ".join(["Every idea on this slide is written out in full so that the text needs many lines."] * 2)
OUTLINE = """# Digital Clone Studio
Turning a photo and a voice into media

## What it does
- Clones a voice from a short sample
  - thirty seconds is enough
  - works offline
- Animates a portrait
Notes: Here is what the studio does.

## The portrait
![a painted face](portrait)
- Painted in oil
- Animated from speech

## Engines compared
| Engine | Speed | Quality |
|---|---|---|
| Voice | fast | good |
| Video | slow | better |

## Growth
```chart
type: bar
Quarter, Users
Q1, 10
Q2, 14
Q3, 21
```

## Wisdom
> Simplicity is the ultimate sophistication.
> — Leonardo da Vinci

## Section: Questions

## A slide with a lot to say
""" + "".join(f"- {LONG}\n  - a detail that also takes some room on the line\n" for _ in range(5))

TITLES = ["Digital Clone Studio", "What it does", "The portrait", "Engines compared", "Growth", "Wisdom",
          "Questions", "A slide with a lot to say"]
PX_PER_IN = 1280 / SLIDE_W_IN


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    samples = Path(__file__).resolve().parents[2] / "data"
    portrait = samples / "portraits" / "art_0.png"
    if not portrait.exists():
        pytest.skip(f"shared samples not found at {samples}")
    tmp = tmp_path_factory.mktemp("deck")
    deck = parse_outline(OUTLINE, {"portrait": portrait}.get)
    narration = narrate(deck, lambda text: synthesize(text, speed=1.6))
    clips = narration.write_clips(tmp / "clips")
    clips[1] = Path(Audio.read(clips[1]).write(tmp / "clips" / "slide2.flac"))  # FLAC is converted too
    seen = []
    pptx = write_pptx(deck, tmp / "talk.pptx", clips, progress=lambda d, t, m="": seen.append((d, t)))
    images = render_slides(pptx, tmp / "images")
    return {"deck": deck, "narration": narration, "pptx": pptx, "images": images, "tmp": tmp, "seen": seen}


def _ffprobe_duration_s(path: Path) -> tuple[float, str]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    info = json.loads(out)
    return float(info["format"]["duration"]), info["streams"][0]["codec_name"]


def test_pptx_reopens_with_the_same_slides_in_order(built):
    from pptx import Presentation

    prs = Presentation(str(built["pptx"]))
    assert prs.slide_width / prs.slide_height == pytest.approx(16 / 9)
    assert prs.slide_width / 914400 == pytest.approx(13.333, abs=0.001)
    assert prs.slide_height / 914400 == pytest.approx(7.5)
    assert len(prs.slides) == len(TITLES)
    assert [s.shapes.title.text_frame.text for s in prs.slides] == TITLES
    for s, slide in zip(built["deck"].slides, prs.slides):
        notes = slide.notes_slide.notes_text_frame.text
        assert notes.strip() and notes == s.notes
    assert built["seen"][-1] == (8, 8)


def test_every_slide_carries_its_narration_as_mp3(built):
    from pptx import Presentation

    prs = Presentation(str(built["pptx"]))
    clips = built["narration"].clips
    for i, slide in enumerate(prs.slides):
        audio = list({r.target_part.partname: r.target_part for r in slide.part.rels.values()
                      if not r.is_external and r.target_part.content_type == "audio/mpeg"}.values())
        assert len(audio) == 1, f"slide {i + 1}"
        mp3 = built["tmp"] / f"embedded_{i}.mp3"
        mp3.write_bytes(audio[0].blob)
        duration_s, codec = _ffprobe_duration_s(mp3)
        assert codec == "mp3"
        assert duration_s == pytest.approx(clips[i].duration_s, abs=0.08)


def test_narration_timeline_is_speech_plus_pause(built):
    n = built["narration"]
    assert len(n.timeline) == 8
    for clip, t in zip(n.clips, n.timeline):
        assert t.duration_s == pytest.approx(clip.duration_s + PAUSE_S, abs=1e-3)
    assert n.soundtrack.duration_s == pytest.approx(n.total_s, abs=1e-3)
    assert [t.start_s for t in n.timeline][1] == pytest.approx(n.timeline[0].duration_s)
    # Speech is audible inside each slide's span and silent in the pause after it.
    y, sr = n.soundtrack.samples, n.soundtrack.sample_rate
    for t in n.timeline:
        speech = y[int(t.start_s * sr):int((t.start_s + t.duration_s - PAUSE_S) * sr)]
        pause = y[int((t.start_s + t.duration_s - PAUSE_S) * sr):int((t.start_s + t.duration_s) * sr)]
        assert np.sqrt(np.mean(speech ** 2)) > 0.01 and np.abs(pause).max() == 0


def test_libreoffice_draws_one_image_per_slide(built):
    images = built["images"]
    assert len(images) == 8
    for p in images:
        with Image.open(p) as im:
            assert im.size == (1280, 720)


def _gold_pixels(im: np.ndarray, box_in: tuple[float, float, float, float]) -> int:
    l, t, w, h = (round(v * PX_PER_IN) for v in box_in)
    region = im[t:t + h, l:l + w].astype(int)
    gold = np.array(rgb(get_theme("dark").title))
    return int((np.abs(region - gold).sum(axis=2) < 60).sum())


def test_renders_show_the_dark_gold_theme(built):
    bg = np.array(rgb(get_theme("dark").background))
    for i, p in enumerate(built["images"]):
        im = np.asarray(Image.open(p).convert("RGB"))
        corner = im[:20, :20].reshape(-1, 3).astype(int)
        assert np.abs(corner - bg).max() <= 6, f"slide {i + 1} background"
        # Most of every slide is the near-black background.
        assert (np.abs(im.astype(int) - bg).sum(axis=2) < 20).mean() > 0.4, f"slide {i + 1}"
    title_slide = np.asarray(Image.open(built["images"][0]).convert("RGB"))
    assert _gold_pixels(title_slide, (1.0, 1.6, SLIDE_W_IN - 2, 2.4)) > 1500
    for i in (1, 2, 3, 4, 5, 7):
        im = np.asarray(Image.open(built["images"][i]).convert("RGB"))
        assert _gold_pixels(im, (0.6, 0.35, SLIDE_W_IN - 1.2, 1.1)) > 500, f"slide {i + 1} title"
    for i in (1, 7):
        # On bullet slides the title is gold and the body text is not (only the bullet marks are).
        im = np.asarray(Image.open(built["images"][i]).convert("RGB"))
        assert _gold_pixels(im, (0.6, 1.9, SLIDE_W_IN - 1.2, 4.0)) < _gold_pixels(im, (0.6, 0.35, 6, 1.1)) / 3


def test_long_bullets_are_shrunk_to_stay_on_the_slide(built):
    from pptx import Presentation

    slide = Presentation(str(built["pptx"])).slides[7]
    body = next(s for s in slide.shapes if s.name == "Body")
    sizes = {r.font.size.pt for p in body.text_frame.paragraphs for r in p.runs}
    theme = get_theme("dark")
    assert max(sizes) < theme.body_size_pt and min(sizes) >= theme.min_body_size_pt * 0.85
    im = np.asarray(Image.open(built["images"][7]).convert("RGB")).astype(int)
    bg = np.array(rgb(theme.background))
    text_rows = (np.abs(im - bg).sum(axis=2) > 60).any(axis=1)
    bottom_margin = round((SLIDE_H_IN - theme.margin_in) * PX_PER_IN)
    # The text uses the lower half of the slide ...
    assert text_rows[round(4.5 * PX_PER_IN):bottom_margin].any()
    # ... and nothing but the speaker icon lies below the content box.
    below = np.abs(im[bottom_margin + 2:, :round((SLIDE_W_IN - 1.0) * PX_PER_IN)] - bg).sum(axis=2)
    assert below.max() < 40


def test_thumbnails_reuse_the_renders(built):
    thumbs = render_thumbnails(built["pptx"], built["tmp"] / "images", width_px=320)
    assert len(thumbs) == 8
    big = np.asarray(Image.open(built["images"][0]).convert("RGB").resize((320, 180))).astype(int)
    small = np.asarray(Image.open(thumbs[0]).convert("RGB")).astype(int)
    assert small.shape == (180, 320, 3) and np.abs(big - small).mean() < 8


def test_read_pptx_round_trips_titles_bullets_notes(built):
    images = built["tmp"] / "read-images"
    back = read_pptx(built["pptx"], images)
    deck = built["deck"]
    assert [s.title for s in back.slides] == TITLES
    assert back.subtitle == "Turning a photo and a voice into media"
    assert back.slides[1].bullets == deck.slides[1].bullets
    assert [b.level for b in back.slides[1].bullets] == [0, 1, 1, 0]
    assert [s.notes for s in back.slides] == [s.notes for s in deck.slides]
    assert back.slides[3].kind == "table" and back.slides[3].table == deck.slides[3].table
    assert back.slides[5].quote == deck.slides[5].quote and back.slides[5].attribution == "Leonardo da Vinci"
    assert back.slides[6].kind == "section"
    # The portrait is extracted as the same picture.
    with Image.open(back.slides[2].image_ref) as a, Image.open(deck.slides[2].image_ref) as b:
        assert a.size == b.size
        assert np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB")))
    assert back.slides[2].bullets == deck.slides[2].bullets


def test_light_theme_is_applied(tmp_path):
    from pptx import Presentation

    deck = parse_outline("# Light talk\nsub\n\n## Points\n- one\n- two", theme="light")
    prs = Presentation(str(write_pptx(deck, tmp_path / "light.pptx")))
    light = get_theme("light")
    for slide in prs.slides:
        assert str(slide.background.fill.fore_color.rgb) == light.background.lstrip("#").upper()
        run = slide.shapes.title.text_frame.paragraphs[0].runs[0]
        assert str(run.font.color.rgb) == light.title.lstrip("#").upper()
        assert run.font.name == "DejaVu Sans"


def test_too_much_text_for_one_slide_is_refused(tmp_path):
    deck = parse_outline("## Wall of text\n" + "".join(f"- {LONG} {LONG}\n" for _ in range(12)))
    with pytest.raises(InputError, match=r"slide 1 \('Wall of text'\) has too much text"):
        write_pptx(deck, tmp_path / "x.pptx")


def test_unknown_theme_and_bad_narration_index(tmp_path):
    deck = parse_outline("## One\n- a")
    with pytest.raises(InputError, match="dark, light"):
        write_pptx(parse_outline("## One\n- a", theme="neon"), tmp_path / "x.pptx")
    with pytest.raises(InputError, match="slide index 3"):
        write_pptx(deck, tmp_path / "x.pptx", {3: tmp_path / "a.wav"})


def _table_font_pt(path: Path) -> float:
    from pptx import Presentation

    frame = next(s for s in Presentation(str(path)).slides[0].shapes if s.has_table)
    return frame.table.cell(1, 0).text_frame.paragraphs[0].runs[0].font.size.pt


def test_table_text_shrinks_with_long_cells_and_huge_tables_are_refused(tmp_path):
    short = parse_outline("## T\n| a | b |\n|---|---|\n| 1 | 2 |")
    cell = "a long cell that wraps over several lines of the table " * 2
    long = parse_outline("## T\n| a | b |\n|---|---|\n" + f"| {cell} | {cell} |\n" * 6)
    assert _table_font_pt(write_pptx(long, tmp_path / "long.pptx")) < _table_font_pt(
        write_pptx(short, tmp_path / "short.pptx"))
    huge = parse_outline("## Big table\n| a | b |\n|---|---|\n" + f"| {cell * 4} | {cell * 4} |\n" * 10)
    with pytest.raises(InputError, match="too much text in its table"):
        write_pptx(huge, tmp_path / "huge.pptx")


def test_overlong_quote_is_refused(tmp_path):
    deck = parse_outline("## Q\n> " + LONG * 8 + "\n> — Someone")
    with pytest.raises(InputError, match="quotation on slide 1 .* too long"):
        write_pptx(deck, tmp_path / "q.pptx")


def test_deck_and_libreoffice_temporary_files_go_in_the_scratch_folder(tmp_path, monkeypatch):
    """Charts and MP3s of write_pptx, and LibreOffice's profile and its own temporary files (which it puts
    under TMPDIR and leaves there when killed), lie in the scratch folder given, never in the system temp
    folder; the scratch folder is empty once each call returns."""
    import os
    import stat
    import tempfile

    from engines.slides import render as slides_render

    system_tmp, scratch = tmp_path / "system-tmp", tmp_path / "job" / "tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    monkeypatch.setenv("TMPDIR", str(system_tmp))
    # LibreOffice run through a wrapper that notes the TMPDIR and profile it was given.
    record, real = tmp_path / "soffice-env.txt", slides_render._soffice()
    wrapper = tmp_path / "soffice"
    wrapper.write_text(f'#!/bin/sh\necho "$TMPDIR" > "{record}"\necho "$1" >> "{record}"\nexec "{real}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(slides_render, "_soffice", lambda: str(wrapper))

    deck = parse_outline("# Scratch\n\n## Chart\n```chart\ntype: bar\nlabels: a, b\nvalues: 1, 2\n```\n")
    during = []
    pptx = write_pptx(deck, tmp_path / "out" / "deck.pptx", progress=lambda d, t, m="": during.extend(
        p.relative_to(scratch).parts[0] for p in scratch.rglob("*.png")), scratch=scratch)
    assert during and all(part.startswith("deck-") for part in during)
    assert list(scratch.iterdir()) == []
    images = render_slides(pptx, tmp_path / "out" / "images", scratch=scratch)
    assert len(images) == 2
    tmpdir, profile = record.read_text().splitlines()[:2]
    assert Path(tmpdir).is_relative_to(scratch) and f"file://{scratch}/" in profile
    assert list(scratch.iterdir()) == [] and list(system_tmp.iterdir()) == []
    assert sorted(os.listdir(tmp_path / "out" / "images")) == sorted(p.name for p in images)
