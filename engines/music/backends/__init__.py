"""Neural music backends, imported only when asked for.

The embedded engine (composition to MIDI, rendered with FluidSynth) always works; these make
instrumentals from a text prompt where their weights are present, and say why not otherwise.
"""

from __future__ import annotations

import importlib
from typing import Any

from engines.capabilities import Availability
from engines.errors import InputError

# name -> "module:Class"
_BACKENDS = {
    "musicgen": "engines.music.backends.musicgen:MusicGenBackend",
}
_instances: dict[str, Any] = {}


def names() -> list[str]:
    return list(_BACKENDS)


def get(name: str) -> Any:
    """The backend called `name` (one shared instance); unknown names are an InputError."""
    name = (name or "").strip().lower()
    if name not in _BACKENDS:
        raise InputError(f"unknown music backend {name!r}; choose {', '.join(_BACKENDS)}")
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


__all__ = ["availability", "get", "names", "register_all"]
