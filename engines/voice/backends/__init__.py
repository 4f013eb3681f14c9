"""Speech backends: embedded espeak-ng, Piper (the embedded neural English voice), Bark (local
weights), OpenAI-compatible speech and gTTS (online), each a `SpeechBackend`.

Which of them the app offers, and the order `backend="auto"` tries them in, is the catalogue
`services.make_backends()` builds; gTTS runs only when named (it sends the text to Google).
"""

from __future__ import annotations

from engines.voice.backends.base import SpeechBackend, SpeechRequest

__all__ = ["SpeechBackend", "SpeechRequest"]
