"""Speech backends behind one interface, imported only when asked for.

`backend="auto"` takes the best available that speaks the language: Bark (local weights) >
OpenAI (API key) > Piper (the embedded neural English voice) > embedded espeak-ng (every language).
gTTS runs only when named (it sends the text to Google).
"""

from __future__ import annotations

from engines.backends import LazyBackends
from engines.voice.backends.base import SpeechBackend, SpeechRequest

_BACKENDS = LazyBackends("speech", {
    "embedded": "engines.voice.backends.embedded:EmbeddedBackend",
    "piper": "engines.voice.backends.piper_backend:PiperBackend",
    "bark": "engines.voice.backends.bark:BarkBackend",
    "openai": "engines.voice.backends.openai_tts:OpenAIBackend",
    "gtts": "engines.voice.backends.gtts_backend:GTTSBackend",
}, extra_choices=("auto",))
AUTO_ORDER = ["bark", "openai", "piper", "embedded"]
names, get, availability, register_all = (_BACKENDS.names, _BACKENDS.get, _BACKENDS.availability,
                                          _BACKENDS.register_all)

__all__ = ["AUTO_ORDER", "SpeechBackend", "SpeechRequest", "availability", "get", "names", "register_all"]
