"""Slide images from a .pptx: LibreOffice (headless) -> PDF -> pdftoppm -> one PNG per slide.

Each call uses its own LibreOffice profile directory so concurrent renders do not collide.
Renders are cached by the deck's content hash and the width. Temporary files (the PDF, the profile,
LibreOffice's own temp files) go in a private folder inside the `scratch` folder given (a job's),
else beside the output, and are removed when the call ends.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

from core.errors import BackendUnavailable, EngineError, InputError
from core.scratch import temp_dir

log = logging.getLogger(__name__)

# Longest a conversion may take, in seconds (LibreOffice start-up is ~1-2 s; big decks take longer).
SOFFICE_TIMEOUT_S = 180
PDFTOPPM_TIMEOUT_S = 180
# Width of gallery thumbnails, in pixels.
THUMB_WIDTH_PX = 320
_MIN_W_PX, _MAX_W_PX = 64, 3840


def _soffice() -> str:
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    raise BackendUnavailable("LibreOffice is not installed (Debian package libreoffice-impress): it is needed "
                             "to draw slide images")


def _pdftoppm() -> str:
    found = shutil.which("pdftoppm")
    if not found:
        raise BackendUnavailable("pdftoppm is not installed (Debian package poppler-utils): it is needed to "
                                 "draw slide images")
    return found


def slide_count(pptx_path: Path) -> int:
    """Number of slides listed in the deck's presentation part (no python-pptx needed)."""
    import re

    try:
        with zipfile.ZipFile(pptx_path) as z:
            xml = z.read("ppt/presentation.xml").decode("utf-8", "replace")
    except (zipfile.BadZipFile, KeyError, OSError):
        raise InputError("not a readable PowerPoint deck: the .pptx could not be opened") from None
    return len(re.findall(r"<p:sldId\b", xml))


def _pdf_pages(pdf: Path) -> int:
    info = shutil.which("pdfinfo")
    if info:
        r = subprocess.run([info, str(pdf)], capture_output=True, text=True, timeout=60)
        for line in r.stdout.splitlines():
            if line.startswith("Pages:"):
                return int(line.split()[1])
    return -1


def deck_hash(pptx_path: Path) -> str:
    h = hashlib.sha256()
    with open(pptx_path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:20]


def pptx_to_pdf(pptx_path: Path, out_dir: Path, timeout_s: float = SOFFICE_TIMEOUT_S,
                scratch: Path | None = None) -> Path:
    """Convert with `soffice --headless --convert-to pdf` using a private profile; returns the PDF path.
    The profile and LibreOffice's temporary files go in a folder inside `scratch` (None: `out_dir`)."""
    soffice = _soffice()
    out_dir.mkdir(parents=True, exist_ok=True)
    with temp_dir(scratch, out_dir, "lo-profile-") as profile:
        cmd = [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
               "--nolockcheck", "--convert-to", "pdf", "--outdir", str(out_dir), str(pptx_path)]
        # LibreOffice writes its own temporary files under TMPDIR: the private folder, not the system's.
        env = {**os.environ, "TMPDIR": str(profile)}
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
        except subprocess.TimeoutExpired:
            raise EngineError(f"LibreOffice took longer than {timeout_s:.0f} s to convert the deck") from None
    pdf = out_dir / (pptx_path.stem + ".pdf")
    if r.returncode != 0 or not pdf.exists():
        log.warning("soffice failed (%s): %s %s", r.returncode, r.stdout[-500:], r.stderr[-500:])
        raise EngineError("LibreOffice could not convert the deck to images; is the .pptx valid?")
    return pdf


def _render(pptx_path: Path, out_dir: Path, width_px: int, prefix: str, scratch: Path | None) -> list[Path]:
    pptx_path = Path(pptx_path)
    if not pptx_path.is_file():
        raise InputError(f"deck {pptx_path.name!r} was not found")
    if not (_MIN_W_PX <= int(width_px) <= _MAX_W_PX):
        raise InputError(f"slide image width {width_px} px is outside {_MIN_W_PX}..{_MAX_W_PX} px")
    expected = slide_count(pptx_path)
    if expected == 0:
        raise InputError("the deck has no slides")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    key = f"{deck_hash(pptx_path)}-{int(width_px)}"
    cached = sorted(out_dir.glob(f"{prefix}-{key}-*.png"))
    if len(cached) == expected:
        log.debug("slide images for %s from cache", pptx_path.name)
        return cached
    pdftoppm = _pdftoppm()
    with temp_dir(scratch, out_dir, "render-") as work:
        # A fixed, simple name: LibreOffice names the PDF after the input file.
        src = work / "deck.pptx"
        shutil.copyfile(pptx_path, src)
        pdf = pptx_to_pdf(src, work, scratch=work)
        pages = _pdf_pages(pdf)
        if pages not in (-1, expected):
            raise EngineError(f"LibreOffice produced {pages} pages for a deck of {expected} slides")
        try:
            r = subprocess.run([pdftoppm, "-png", "-scale-to-x", str(int(width_px)), "-scale-to-y", "-1",
                                str(pdf), str(work / "page")], capture_output=True, text=True,
                               timeout=PDFTOPPM_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise EngineError(f"pdftoppm took longer than {PDFTOPPM_TIMEOUT_S} s") from None
        if r.returncode != 0:
            raise EngineError(f"pdftoppm could not draw the slides: {r.stderr.strip()[-300:]}")
        pngs = sorted(work.glob("page-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        if len(pngs) != expected:
            raise EngineError(f"rendering gave {len(pngs)} images for a deck of {expected} slides")
        width = len(str(expected))
        out = []
        for i, p in enumerate(pngs, start=1):
            dest = out_dir / f"{prefix}-{key}-{i:0{max(3, width)}d}.png"
            shutil.move(str(p), dest)
            out.append(dest)
    log.info("rendered %d slides of %s at %d px", len(out), pptx_path.name, width_px)
    return out


def render_slides(pptx_path: str | Path, out_dir: str | Path, width_px: int = 1280,
                  scratch: str | Path | None = None) -> list[Path]:
    """One PNG per slide, `width_px` wide (height follows the slide's aspect), in slide order.
    `scratch`: a folder for temporary files (a job's; None: `out_dir`)."""
    return _render(Path(pptx_path), Path(out_dir), width_px, "slide", scratch)


def render_thumbnails(pptx_path: str | Path, out_dir: str | Path, width_px: int = THUMB_WIDTH_PX,
                      scratch: str | Path | None = None) -> list[Path]:
    """Small PNGs for a gallery, one per slide. Slide images already rendered into `out_dir` at a
    larger width are scaled down instead of running LibreOffice again. `scratch`: as for render_slides."""
    from PIL import Image

    pptx_path, out_dir = Path(pptx_path), Path(out_dir)
    if pptx_path.is_file() and out_dir.is_dir() and _MIN_W_PX <= int(width_px) <= _MAX_W_PX:
        digest, expected = deck_hash(pptx_path), slide_count(pptx_path)
        for big in sorted(out_dir.glob(f"slide-{digest}-*-001.png"), reverse=True):
            big_w = int(big.stem.split("-")[2])
            sources = sorted(out_dir.glob(f"slide-{digest}-{big_w}-*.png"))
            if big_w < width_px or len(sources) != expected:
                continue
            out = []
            for src in sources:
                dest = out_dir / src.name.replace(f"slide-{digest}-{big_w}-", f"thumb-{digest}-{int(width_px)}-")
                if not dest.exists():
                    with Image.open(src) as im:
                        h = max(1, round(im.height * width_px / im.width))
                        im.convert("RGB").resize((int(width_px), h), Image.LANCZOS).save(dest)
                out.append(dest)
            return out
    return _render(pptx_path, out_dir, width_px, "thumb", scratch)
