"""Neural music backends, imported only when asked for.

The embedded engine (composition to MIDI, rendered with FluidSynth) always works; these make
instrumentals from a text prompt where their weights are present, and say why not otherwise.
"""

from __future__ import annotations

from engines.backends import LazyBackends

_BACKENDS = LazyBackends("music", {
    "musicgen": "engines.music.backends.musicgen:MusicGenBackend",
})
names, get, availability, register_all = (_BACKENDS.names, _BACKENDS.get, _BACKENDS.availability,
                                          _BACKENDS.register_all)

__all__ = ["availability", "get", "names", "register_all"]
