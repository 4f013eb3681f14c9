"""An existing .pptx -> Deck: titles, bullets with levels, tables, pictures (extracted to files
so they can be re-rendered), quotes and speaker notes.

The file is checked cheaply before python-pptx inflates anything: password-protected decks
(OLE compound files), corrupt or non-PowerPoint zips, absurd uncompressed sizes, 0 or too
many slides are refused with a message naming the problem.
"""

from __future__ import annotations

import logging
import re
import zipfile
from pathlib import Path

from core.errors import InputError
from engines.slides.deck import MAX_SLIDES, Bullet, Deck, Slide
from engines.slides.notes import auto_notes
from engines.slides.write import register_audio_parts

log = logging.getLogger(__name__)

# The first bytes of an OLE compound file: how Office stores encrypted (password-protected) decks.
OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
# Largest total uncompressed size of a deck's zip members, in bytes.
MAX_UNZIPPED_BYTES = 500 * 1024 * 1024
_NOT_READABLE = "not a readable PowerPoint deck"


def check_pptx_file(path: Path) -> int:
    """Refuse what python-pptx should not open; returns the number of slides listed."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"deck {path.name!r} was not found")
    with open(path, "rb") as f:
        head = f.read(8)
    if head == OLE_MAGIC:
        raise InputError(f"{path.name!r} is password-protected: remove the password and upload again")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path.name!r} is {_NOT_READABLE} (the file is damaged or is not a .pptx)")
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            total = sum(i.file_size for i in infos)
            if total > MAX_UNZIPPED_BYTES:
                raise InputError(f"{path.name!r} would unpack to {total / 2**20:,.0f} MB; at most "
                                 f"{MAX_UNZIPPED_BYTES // 2**20} MB is accepted (a deck this large is damaged "
                                 f"or not a real presentation)")
            names = {i.filename for i in infos}
            if "[Content_Types].xml" not in names or "ppt/presentation.xml" not in names:
                raise InputError(f"{path.name!r} is {_NOT_READABLE}: the zip holds no PowerPoint presentation")
            info = z.getinfo("ppt/presentation.xml")
            if info.file_size > 20 * 2**20:
                raise InputError(f"{path.name!r} is {_NOT_READABLE}: its presentation part is implausibly large")
            xml = z.read(info).decode("utf-8", "replace")
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError):
        raise InputError(f"{path.name!r} is {_NOT_READABLE} (the zip is damaged)") from None
    count = len(re.findall(r"<p:sldId\b", xml))
    if count == 0:
        raise InputError(f"{path.name!r} has no slides; a deck needs at least one slide")
    if count > MAX_SLIDES:
        raise InputError(f"{path.name!r} has {count} slides; at most {MAX_SLIDES} slides are allowed in a deck")
    return count


def _paragraphs(text_frame) -> list[Bullet]:
    out = []
    for p in text_frame.paragraphs:
        text = re.sub(r"\s+", " ", "".join(r.text for r in p.runs) or p.text or "").strip()
        if text:
            out.append(Bullet(text, 1 if (p.level or 0) >= 1 else 0))
    return out


def _is_title(shape) -> bool:
    if not shape.is_placeholder:
        return False
    from pptx.enum.shapes import PP_PLACEHOLDER

    return shape.placeholder_format.type in (PP_PLACEHOLDER.TITLE, PP_PLACEHOLDER.CENTER_TITLE,
                                             PP_PLACEHOLDER.VERTICAL_TITLE)


def _is_subtitle(shape) -> bool:
    if not shape.is_placeholder:
        return False
    from pptx.enum.shapes import PP_PLACEHOLDER

    return shape.placeholder_format.type == PP_PLACEHOLDER.SUBTITLE


def _walk(shapes):
    """Shapes in reading order (top to bottom, then left to right), groups flattened."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    flat = []
    for sh in shapes:
        if sh.shape_type == MSO_SHAPE_TYPE.GROUP:
            flat.extend(_walk(sh.shapes))
        else:
            flat.append(sh)
    return sorted(flat, key=lambda s: ((s.top or 0) // 91440, s.left or 0))


def read_pptx(path: str | Path, images_dir: str | Path | None = None, theme: str = "dark") -> Deck:
    """Read a .pptx into a Deck. Pictures are saved into `images_dir` (skipped when None)."""
    path = Path(path)
    check_pptx_file(path)
    from pptx import Presentation
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    try:
        register_audio_parts()
        prs = Presentation(str(path))
    except Exception as e:  # python-pptx raises many kinds on damaged parts
        log.info("python-pptx could not open %s: %s", path, e)
        raise InputError(f"{path.name!r} is {_NOT_READABLE} ({type(e).__name__})") from None
    images = Path(images_dir) if images_dir is not None else None
    if images is not None:
        images.mkdir(parents=True, exist_ok=True)
    slides: list[Slide] = []
    for number, sl in enumerate(prs.slides, start=1):
        title = ""
        bullets: list[Bullet] = []
        subtitle: list[Bullet] = []
        table: tuple[tuple[str, ...], ...] = ()
        image = None
        quote, attribution = "", ""
        is_title_layout = False
        for sh in _walk(sl.shapes):
            if _is_title(sh) and sh.has_text_frame:
                title = title or re.sub(r"\s+", " ", sh.text_frame.text).strip()
                from pptx.enum.shapes import PP_PLACEHOLDER

                is_title_layout = is_title_layout or sh.placeholder_format.type == PP_PLACEHOLDER.CENTER_TITLE
                continue
            if getattr(sh, "has_table", False) and sh.has_table and not table:
                table = tuple(tuple(re.sub(r"\s+", " ", c.text).strip() for c in row.cells) for row in sh.table.rows)
                continue
            if sh.shape_type == MSO_SHAPE_TYPE.PICTURE and image is None and sh.name != "Narration":
                if images is not None:
                    try:
                        blob, ext = sh.image.blob, sh.image.ext
                    except (AttributeError, ValueError, KeyError):
                        continue
                    image = images / f"slide{number:03d}_{sh.shape_id}.{ext}"
                    image.write_bytes(blob)
                continue
            if sh.has_text_frame:
                paras = _paragraphs(sh.text_frame)
                if sh.name == "Quote":
                    quote = " ".join(b.text for b in paras)
                elif sh.name == "Attribution":
                    attribution = " ".join(b.text for b in paras).lstrip("\u2014-– ").strip()
                elif _is_subtitle(sh):
                    subtitle.extend(paras)
                elif paras and paras[0].text not in ("\u201c", "\u201d", '"'):
                    bullets.extend(paras)
        notes = ""
        if sl.has_notes_slide and sl.notes_slide.notes_text_frame is not None:
            notes = sl.notes_slide.notes_text_frame.text.strip()
        if is_title_layout or (number == 1 and subtitle):
            kind = "title"
            bullets = subtitle + bullets
        elif table:
            kind = "table"
        elif image is not None:
            kind = "image"
        elif quote:
            kind = "quote"
        elif title and not bullets and number > 1:
            kind = "section"
        else:
            kind = "bullets"
        slide = Slide(kind=kind, title=title, bullets=tuple(bullets), image_ref=image, table=table,
                      quote=quote, attribution=attribution, notes=notes)
        slides.append(slide)
    deck_title = slides[0].title if slides else path.stem
    subtitle_text = slides[0].bullets[0].text if slides and slides[0].kind == "title" and slides[0].bullets else ""
    slides = [s if s.notes else Slide(**{**s.__dict__, "notes": auto_notes(s, deck_title)}) for s in slides]
    return Deck(title=deck_title or path.stem, subtitle=subtitle_text, slides=tuple(slides), theme=theme)
