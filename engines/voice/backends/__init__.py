"""Speech backends behind one interface, imported only when asked for.

`backend="auto"` takes the best available: Bark (local weights) > OpenAI (API key) >
embedded espeak-ng. gTTS runs only when named (it sends the text to Google).
"""

from __future__ import annotations

import importlib

from engines.capabilities import Availability
from engines.errors import InputError
from engines.voice.backends.base import SpeechBackend, SpeechRequest

# name -> "module:Class"
_BACKENDS = {
    "embedded": "engines.voice.backends.embedded:EmbeddedBackend",
    "bark": "engines.voice.backends.bark:BarkBackend",
    "openai": "engines.voice.backends.openai_tts:OpenAIBackend",
    "gtts": "engines.voice.backends.gtts_backend:GTTSBackend",
}
AUTO_ORDER = ["bark", "openai", "embedded"]
_instances: dict[str, SpeechBackend] = {}


def names() -> list[str]:
    return list(_BACKENDS)


def get(name: str) -> SpeechBackend:
    name = (name or "").strip().lower()
    if name not in _BACKENDS:
        raise InputError(f"unknown speech backend {name!r}; choose auto, {', '.join(_BACKENDS)}")
    if name not in _instances:
        module, cls = _BACKENDS[name].split(":")
        _instances[name] = getattr(importlib.import_module(module), cls)()
    return _instances[name]


def availability(name: str, settings) -> Availability:  # noqa: ANN001
    """Availability of a backend by name; a backend whose code or library is missing is unavailable."""
    try:
        return get(name).availability(settings)
    except ImportError as e:
        return Availability(False, f"not installed ({e.name or e})")


def register_all() -> None:
    """Import every backend so its capability check is registered (cheap: no model loads)."""
    for name in _BACKENDS:
        try:
            get(name)
        except ImportError:
            pass


__all__ = ["AUTO_ORDER", "SpeechBackend", "SpeechRequest", "availability", "get", "names", "register_all"]
