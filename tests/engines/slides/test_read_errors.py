"""Uploaded decks that must be refused, each with a message naming the problem."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from core.errors import InputError
from engines.slides.read import OLE_MAGIC, read_pptx
from engines.slides.render import render_slides


def _blank_deck(path: Path, slides: int) -> Path:
    from pptx import Presentation

    prs = Presentation()
    for i in range(slides):
        s = prs.slides.add_slide(prs.slide_layouts[5])
        s.shapes.title.text = f"Slide {i + 1}"
    prs.save(str(path))
    return path


def test_password_protected_deck(tmp_path):
    p = tmp_path / "secret.pptx"
    p.write_bytes(OLE_MAGIC + bytes(range(256)) * 40)
    with pytest.raises(InputError, match="password-protected: remove the password and upload again"):
        read_pptx(p)


def test_corrupt_file(tmp_path):
    p = tmp_path / "broken.pptx"
    p.write_bytes(b"PK\x03\x04" + b"\x00garbage" * 500)
    with pytest.raises(InputError, match="not a readable PowerPoint deck"):
        read_pptx(p)


def test_truncated_deck(tmp_path):
    good = _blank_deck(tmp_path / "good.pptx", 2).read_bytes()
    p = tmp_path / "cut.pptx"
    p.write_bytes(good[: len(good) // 2])
    with pytest.raises(InputError, match="not a readable PowerPoint deck"):
        read_pptx(p)


def test_zip_that_is_not_a_deck(tmp_path):
    p = tmp_path / "photos.pptx"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("holiday/readme.txt", "just photos")
    with pytest.raises(InputError, match="not a readable PowerPoint deck: the zip holds no PowerPoint"):
        read_pptx(p)


def test_absurd_declared_member_size_is_refused_before_inflating(tmp_path):
    good = _blank_deck(tmp_path / "good.pptx", 1).read_bytes()
    # Rewrite one central-directory entry to claim 3.9 GB uncompressed.
    data = bytearray(good)
    at = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, at + 24, 0xF0000000)
    p = tmp_path / "bomb.pptx"
    p.write_bytes(bytes(data))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        assert max(i.file_size for i in z.infolist()) == 0xF0000000
    with pytest.raises(InputError, match=r"would unpack to 3,8\d\d MB; at most 500 MB"):
        read_pptx(p)


def test_deck_without_slides(tmp_path):
    p = _blank_deck(tmp_path / "empty.pptx", 0)
    with pytest.raises(InputError, match="has no slides"):
        read_pptx(p)


def test_deck_over_100_slides(tmp_path):
    p = _blank_deck(tmp_path / "huge.pptx", 101)
    with pytest.raises(InputError, match="101 slides; at most 100"):
        read_pptx(p)


def test_render_refuses_a_non_deck(tmp_path):
    p = tmp_path / "broken.pptx"
    p.write_bytes(b"not a zip at all")
    with pytest.raises(InputError, match="not a readable PowerPoint deck"):
        render_slides(p, tmp_path / "out")


def test_reads_a_deck_made_elsewhere(tmp_path):
    """A deck built with python-pptx's default layouts: title, body bullets with levels, notes."""
    from pptx import Presentation

    prs = Presentation()
    s = prs.slides.add_slide(prs.slide_layouts[0])
    s.shapes.title.text = "Quarterly review"
    s.placeholders[1].text = "Spring edition"
    s = prs.slides.add_slide(prs.slide_layouts[1])
    s.shapes.title.text = "Highlights"
    tf = s.placeholders[1].text_frame
    tf.text = "Revenue up"
    p = tf.add_paragraph()
    p.text, p.level = "mostly in Europe", 1
    s.notes_slide.notes_text_frame.text = "Say it with a smile."
    prs.save(str(tmp_path / "other.pptx"))
    deck = read_pptx(tmp_path / "other.pptx")
    assert deck.title == "Quarterly review" and deck.subtitle == "Spring edition"
    assert deck.slides[0].kind == "title"
    assert [(b.text, b.level) for b in deck.slides[1].bullets] == [("Revenue up", 0), ("mostly in Europe", 1)]
    assert deck.slides[1].notes == "Say it with a smile."
    # Notes are written for the slide that had none.
    assert deck.slides[0].notes == "Welcome to Quarterly review. Spring edition."
