"""The capabilities report: which engines and backends can run here, and why not.

The report asks every backend of the catalogue it is given (`services.make_backends()`) for its
availability, model and licence (cheap: no model is loaded), and adds the device, the language
model and the programs the engines call. It is shown in the UI and at /capabilities.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from engines.backend import Availability, Backend, Backends
from engines.device import describe_device

__all__ = ["Availability", "MediaIntake", "TOOLS", "report", "tool_status"]


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


def report(settings, backends: Backends) -> dict:
    from engines import llm

    device = describe_device(settings.device)
    text_model = llm.available(settings)
    return {
        "device": device,
        "llm": {
            "available": text_model.available,
            "model": settings.openai_model,
            "base_url": settings.openai_base_url or llm.DEFAULT_BASE_URL,
            "reason": text_model.reason,
        },
        "tools": tool_status(),
        "engines": backends.report(settings, device.get("device") or ""),
    }


class MediaIntake(Backend):
    """Checking uploads: FFprobe and FFmpeg for audio and video, Pillow for photos."""

    kind = "media_intake"
    name = "embedded"
    tier = "embedded"
    licence = "LGPL-2.1+ (FFmpeg), MIT-CMU (Pillow)"
    model = "ffprobe + Pillow"

    def availability(self, settings) -> Availability:
        missing = [t for t in ("ffmpeg", "ffprobe") if not shutil.which(t)]
        if missing:
            return Availability(False, f"{' and '.join(missing)} not installed: audio and video uploads are refused")
        return Availability(True, "ffprobe/ffmpeg for audio and video, Pillow for photos, zip checks for .pptx")
