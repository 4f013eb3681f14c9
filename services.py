"""Builds the app's services from the settings: database, media store, library, jobs, models.

The tabs receive one `Services` object; nothing in the UI reaches for globals.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from engines.backend import Backends
from engines.capabilities import MediaIntake
from engines.llm import OpenAICompatibleText
from engines.music.backends.musicgen import MusicGenBackend
from engines.registry import MODELS, ModelRegistry
from engines.talking_head.backends import EmbeddedBackend as EmbeddedTalkingHead
from engines.voice.backends.bark import BarkBackend
from engines.voice.backends.embedded import EmbeddedBackend as EmbeddedSpeech
from engines.voice.backends.gtts_backend import GTTSBackend
from engines.voice.backends.openai_tts import OpenAIBackend
from engines.voice.backends.piper_backend import PiperBackend
from settings import Settings
from storage.db import make_engine
from storage.intake import Limits
from storage.jobs import JobRunner
from storage.library import Library
from storage.media import MediaStore
from workflows.music import MusicWorkflows
from workflows.slides import SlidesWorkflows
from workflows.talking_head import TalkingHeadWorkflows
from workflows.video import VideoWorkflows
from workflows.voice import VoiceWorkflows

log = logging.getLogger(__name__)


def make_backends() -> Backends:
    """Every backend the app offers, by kind, in the order backend="auto" tries them (nothing
    registers itself on import). Adding a model is one file, a `Backend` subclass, and one line here."""
    return Backends([
        # Speech: local weights, then the cloud, then the embedded voices; gTTS only when named.
        BarkBackend(), OpenAIBackend(), PiperBackend(), EmbeddedSpeech(), GTTSBackend(),
        # Music: instrumentals from a prompt (the embedded composer always plays otherwise).
        MusicGenBackend(),
        # Talking heads: neural backends go before the embedded engine, auto's fallback.
        EmbeddedTalkingHead(),
        # The language model, and the checks of uploads.
        OpenAICompatibleText(), MediaIntake(),
    ])


@dataclass
class Services:
    settings: Settings
    library: Library
    jobs: JobRunner
    models: ModelRegistry
    backends: Backends
    voices: VoiceWorkflows
    talking_heads: TalkingHeadWorkflows
    music: MusicWorkflows
    video: VideoWorkflows
    slides: SlidesWorkflows
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def start_housekeeping(self, every_s: float = 60.0) -> threading.Thread:
        """Drop idle models in the background so a long-running server gives memory back."""

        def loop() -> None:
            while not self._stop.wait(every_s):
                try:
                    self.models.drop_idle()
                except Exception:
                    log.exception("housekeeping failed")

        t = threading.Thread(target=loop, name="housekeeping", daemon=True)
        t.start()
        return t

    def stop(self) -> None:
        self._stop.set()

    def capabilities(self) -> dict:
        from engines.capabilities import report

        out = report(self.settings, self.backends)
        out["models_loaded"] = self.models.loaded()
        return out


def build_services(settings: Settings, recover: bool = True) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    store = MediaStore(settings.media_dir, settings.scratch_dir)
    library = Library(engine, store, Limits.from_settings(settings))
    if recover:
        library.recover()
    MODELS.idle_seconds = settings.model_idle_seconds
    jobs = JobRunner(library)
    backends = make_backends()
    voices = VoiceWorkflows(settings, library, jobs, backends)
    music = MusicWorkflows(settings, library, jobs, voices, backends)
    return Services(settings, library, jobs, MODELS, backends, voices,
                    TalkingHeadWorkflows(settings, library, jobs, voices, backends), music,
                    VideoWorkflows(settings, library, jobs, music), SlidesWorkflows(settings, library, jobs, voices))
