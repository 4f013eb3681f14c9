"""The capabilities report: which engines and backends can run here, and why not.

Engine packages register a check per backend with `register(...)`; the report runs
every check (cheap: no model is loaded) and is shown in the UI and at /capabilities.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from engines.device import describe_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Availability:
    available: bool
    # Why not (missing weights, missing key, no GPU ...), or a note on what is used.
    reason: str = ""


@dataclass(frozen=True)
class BackendInfo:
    engine: str  # "voice", "talking_head", ...
    backend: str  # "embedded", "bark", "openai", ...
    tier: str  # "embedded" (CPU, nothing downloaded), "neural" or "cloud"
    licence: str
    check: Callable[[object], Availability]  # called with the Settings


_BACKENDS: list[BackendInfo] = []


def register(info: BackendInfo) -> None:
    if any(b.engine == info.engine and b.backend == info.backend for b in _BACKENDS):
        return
    _BACKENDS.append(info)


def backends(engine: str | None = None) -> list[BackendInfo]:
    return [b for b in _BACKENDS if engine is None or b.engine == engine]


# Programs the engines call; each entry says what needs it.
TOOLS = {
    "ffmpeg": "audio/video decoding and encoding",
    "ffprobe": "probing uploads",
    "espeak-ng": "embedded speech",
    "fluidsynth": "music rendering",
    "soffice": "faithful slide images",
    "pdftoppm": "faithful slide images",
}
SOUNDFONTS = [
    Path("/usr/share/sounds/sf3/MuseScore_General.sf3"),
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
]


def tool_status() -> dict:
    out = {}
    for tool, use in TOOLS.items():
        path = shutil.which(tool)
        out[tool] = {"available": bool(path), "location": path or "", "used_for": use}
    font = next((p for p in SOUNDFONTS if p.exists()), None)
    out["soundfont"] = {"available": font is not None, "location": str(font or ""), "used_for": "music rendering"}
    return out


def report(settings) -> dict:  # noqa: ANN001  (settings.Settings)
    engines: dict[str, list[dict]] = {}
    for b in _BACKENDS:
        try:
            a = b.check(settings)
        except Exception as e:  # a broken check must not break the report
            log.exception("capability check %s/%s failed", b.engine, b.backend)
            a = Availability(False, f"check failed: {e}")
        engines.setdefault(b.engine, []).append(
            {"backend": b.backend, "tier": b.tier, "licence": b.licence, **asdict(a)}
        )
    from engines import llm

    text_model = llm.available(settings)
    return {
        "device": describe_device(settings.device),
        "llm": {
            "available": text_model.available,
            "model": settings.openai_model,
            "base_url": settings.openai_base_url or llm.DEFAULT_BASE_URL,
            "reason": text_model.reason,
        },
        "tools": tool_status(),
        "engines": engines,
    }


def _intake_check(_settings) -> Availability:  # noqa: ANN001
    missing = [t for t in ("ffmpeg", "ffprobe") if not shutil.which(t)]
    if missing:
        return Availability(False, f"{' and '.join(missing)} not installed: audio and video uploads are refused")
    return Availability(True, "ffprobe/ffmpeg for audio and video, Pillow for photos, zip checks for .pptx")


register(BackendInfo("media_intake", "embedded", "embedded", "LGPL-2.1+ (FFmpeg), MIT-CMU (Pillow)", _intake_check))
