"""Decks as recorded jobs: outline -> narrated .pptx + narrated video (with and without a presenter),
an uploaded .pptx narrated, and bad input refused before anything is stored."""

from __future__ import annotations

import json
import subprocess
import zipfile

import pytest

from core.errors import InputError

pytestmark = pytest.mark.skipif(not __import__("shutil").which("soffice"), reason="LibreOffice not installed")

OUTLINE = """# Quarterly review
Where we stand

## Highlights
- Revenue grew
  - mostly from new customers
- Costs held steady
Notes: A short summary of the quarter.

## Next steps
- Hire two engineers
"""


def ffprobe(path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_chapters", "-show_streams", "-show_format", "-of", "json",
                          str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def outputs_by_kind(done) -> dict:
    out: dict = {}
    for a in done.outputs:
        out.setdefault(a.kind.value, []).append(a)
    return out


def check_deck_and_video(services, done, titles: list[str]) -> dict:
    from pptx import Presentation

    lib = services.library
    kinds = outputs_by_kind(done)
    (deck,), videos = kinds["pptx"], kinds["video"]
    prs = Presentation(str(lib.asset_path(deck)))
    slides = list(prs.slides)
    assert len(slides) == len(titles)
    for slide, title in zip(slides, titles):
        assert slide.has_notes_slide and slide.notes_slide.notes_text_frame.text.strip()
        audio = [rel for rel in slide.part.rels.values() if "audio" in rel.reltype or "media" in rel.reltype]
        assert audio, f"slide {title!r} has no embedded narration"
        if slide.shapes.title is not None:
            assert slide.shapes.title.text.strip() == title
    info = ffprobe(lib.asset_path(videos[0]))
    g = done.generation
    narration_s = g.metrics["narration_s"]
    video_s = float(info["format"]["duration"])
    assert video_s == pytest.approx(narration_s, abs=0.5)
    chapters = info["chapters"]
    assert [c["tags"]["title"] for c in chapters] == titles
    starts = [t["start_s"] for t in g.metrics["timeline"]]
    assert [float(c["start_time"]) for c in chapters] == pytest.approx(starts, abs=0.05)
    v = next(s for s in info["streams"] if s["codec_type"] == "video")
    assert (v["codec_name"], v["pix_fmt"], v["width"], v["height"]) == ("h264", "yuv420p", 1280, 720)
    return info


def test_outline_makes_a_narrated_deck_and_video(sqlite_services):
    done = sqlite_services.slides.make_deck(OUTLINE)
    assert done.generation.kind == "deck" and done.generation.status.value == "succeeded"
    check_deck_and_video(sqlite_services, done, ["Quarterly review", "Highlights", "Next steps"])
    slides = [a for a in done.outputs if a.meta.get("role") == "slide"]
    assert len(slides) == 3 and all(a.kind.value == "photo" for a in slides)


def test_a_presenter_speaks_the_deck_in_a_corner(sqlite_services, samples):
    import numpy as np

    outline = "# Hello\n\n## One thing\n- It speaks\n"
    plain = sqlite_services.slides.make_deck(outline)
    presented = sqlite_services.slides.make_deck(outline, presenter=(samples / "portraits" / "art_1.png", "me.png"),
                                                 likeness_consent=True)
    lib = sqlite_services.library

    def frame(done, t):
        vid = outputs_by_kind(done)["video"][0]
        raw = subprocess.run(["ffmpeg", "-v", "error", "-ss", str(t), "-i", str(lib.asset_path(vid)), "-frames:v", "1",
                              "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
        return np.frombuffer(raw, np.uint8).reshape(720, 1280, 3).astype(int)

    a, b = frame(plain, 1.0), frame(presented, 1.0)
    corner = np.abs(a[450:, 900:] - b[450:, 900:]).mean()
    elsewhere = np.abs(a[:300, :600] - b[:300, :600]).mean()
    assert corner > 20 and elsewhere < 3, (corner, elsewhere)
    (row,) = [g for g in lib.list_generations(presented.generation.project_id) if g["id"] == presented.generation.id]
    assert [lib.get_asset(i).kind.value for i in row["inputs"]] == ["photo"]
    # The licences of every model the deck was made with: the narrating voice's (Piper: terms to check before
    # commercial use) and the presenter's face engine's.
    assert "lessac" in plain.generation.model_licence and "MediaPipe" not in plain.generation.model_licence
    assert "lessac" in row["model_licence"] and "MediaPipe" in row["model_licence"]
    assert row["commercial_use"] == "check"


def test_an_uploaded_deck_is_narrated_with_its_design_kept(sqlite_services, tmp_path):
    from engines.slides import parse_outline, write_pptx

    src = write_pptx(parse_outline("# Old deck\n\n## Plans\n- Grow\n\n## Risks\n- Weather\n"), tmp_path / "old.pptx")
    done = sqlite_services.slides.narrate_pptx((src, "old.pptx"))
    assert done.generation.kind == "narrated_deck"
    check_deck_and_video(sqlite_services, done, ["Old deck", "Plans", "Risks"])


def _count(services) -> tuple[int, int]:
    lib = services.library
    projects = lib.list_projects()
    return (sum(len(lib.list_assets(p.id)) for p, _ in projects),
            sum(len(lib.list_generations(p.id)) for p, _ in projects))


@pytest.mark.parametrize("outline, message", [
    ("", "outline is empty"),
    ("   \n", "outline is empty"),
    ("# Big\n" + "".join(f"## Slide {i}\n- point\n" for i in range(300)), "at most 100"),
    ("# Pics\n\n## Team\n![our team](team.jpg)\n", "team.jpg"),
    ("x" * 100_001, "at most 100,000"),
])
def test_bad_outlines_are_refused_and_nothing_is_stored(services, outline, message):
    before = _count(services)
    with pytest.raises(InputError, match=message):
        services.slides.make_deck(outline)
    assert _count(services) == before


def test_bad_decks_are_refused_and_nothing_is_stored(services, tmp_path):
    corrupt = tmp_path / "corrupt.pptx"
    corrupt.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    locked = tmp_path / "locked.pptx"
    locked.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4000)
    bomb = tmp_path / "bomb.pptx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("ppt/media/huge.bin", b"\x00" * (60 << 20))
    before = _count(services)
    for path, message in ((corrupt, "not a readable PowerPoint|damaged"), (locked, "password"),
                          (bomb, "zip bomb|unpack|expands")):
        with pytest.raises(InputError, match=message):
            services.slides.narrate_pptx((path, path.name))
    assert _count(services) == before


def test_a_topic_alone_needs_a_language_model(services, monkeypatch):
    from core.errors import BackendUnavailable
    from engines import llm
    from engines.capabilities import Availability

    before = _count(services)
    with pytest.raises(BackendUnavailable, match="a topic alone needs an LLM"):
        services.slides.parse("How solar panels work")
    assert _count(services)[1] == before[1]

    asked = []

    def fake_complete(settings, system, user, **kw):
        asked.append(user)
        return "# Solar panels\n\n## Light in\n- Photons free electrons\n\n## Power out\n- An inverter makes AC\n"

    monkeypatch.setattr(llm, "available", lambda settings: Availability(True))
    monkeypatch.setattr(llm, "complete", fake_complete)
    deck = services.slides.parse("How solar panels work")
    assert [s.title for s in deck.slides] == ["Solar panels", "Light in", "Power out"]
    assert "How solar panels work" in asked[0] and all(s.notes for s in deck.slides)


def test_a_pasted_text_is_split_into_slides_offline(services):
    text = ("Solar power is growing fast. Panels turn light into electricity without moving parts.\n\n"
            "Costs have fallen for a decade. A panel today costs a fraction of one in 2010.\n\n"
            "Storage is the next step. Batteries keep the power for the evening.")
    deck = services.slides.parse(text)
    assert len(deck.slides) >= 2 and all(s.notes for s in deck.slides)
