"""A deck that already carries narration can be read, narrated again and saved: one narration per slide."""

from __future__ import annotations

import numpy as np

from core.audio import Audio
from engines.slides import parse_outline, read_pptx, write_pptx
from engines.slides.write import add_narration


def tone(tmp_path, name: str, seconds: float, hz: float):
    t = np.arange(int(seconds * 16000)) / 16000
    return Audio((0.2 * np.sin(2 * np.pi * hz * t)).astype(np.float32), 16000).write(tmp_path / name)


def test_narrating_a_narrated_deck_replaces_its_narration(tmp_path):
    from pptx import Presentation

    deck = parse_outline("# Twice\n\n## Again\n- once more\n")
    first = write_pptx(deck, tmp_path / "first.pptx", {0: tone(tmp_path, "a.wav", 1.0, 220),
                                                      1: tone(tmp_path, "b.wav", 1.0, 330)})
    read = read_pptx(first, tmp_path / "images")
    assert [s.title for s in read.slides] == ["Twice", "Again"]
    second = add_narration(first, tmp_path / "second.pptx", read, {0: tone(tmp_path, "c.wav", 2.0, 440),
                                                                     1: tone(tmp_path, "d.wav", 2.5, 550)})
    prs = Presentation(str(second))
    for slide in prs.slides:
        assert [sh.name for sh in slide.shapes].count("Narration") == 1
        media = [r for r in slide.part.rels.values() if r.reltype.endswith("/media")]
        assert len(media) == 1
    # The old clips are gone from the package, the new ones are in it.
    sizes = sorted(len(p.blob) for p in prs.part.package.iter_parts() if p.content_type == "audio/mpeg")
    assert len(sizes) == 2
