"""Bark (Suno, MIT): neural text-to-speech through transformers' BarkModel, from local weights only.

Weights are looked for, in order, in `settings.models_dir / "bark"`, `settings.models_dir / "bark-small"`
and the Hugging Face cache (`suno/bark-small`, then `suno/bark`). Nothing is ever downloaded here:
missing weights raise BackendUnavailable saying where to put them. torch and transformers are
imported on first use, and the model is loaded once through the model registry (under the Ray executor,
in a warm model actor: the backend uses it only through `LoadedBark`'s plain-data methods).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.audio import Audio
from core.errors import BackendUnavailable, InputError
from engines import zerogpu
from engines.voice.backends.base import SpeechBackend, SpeechRequest
from engines.weights import TRANSFORMERS_WEIGHTS, load_pretrained

log = logging.getLogger(__name__)

DEFAULT_MODEL = "suno/bark-small"
# Hugging Face repositories searched in the local cache, preferred first.
HUB_REPOS = ("suno/bark-small", "suno/bark")
# Folder names searched under settings.models_dir.
LOCAL_DIRS = ("bark", "bark-small")
# Languages Bark's v2 voice presets cover (ten speakers each).
LANGUAGES = ("en", "de", "es", "fr", "hi", "it", "ja", "ko", "pl", "pt", "ru", "tr", "zh")
# The preset used when a request names none; speaker 6 is the usual English demo voice.
DEFAULT_PRESETS = {lang: f"v2/{lang}_speaker_{6 if lang == 'en' else 0}" for lang in LANGUAGES}
# Bark's semantic model reads at most this many text tokens; longer input would be cut silently.
MAX_TEXT_TOKENS = 256
_PRESET_RE = re.compile(r"^(v2/)?[a-z]{2}_speaker_\d$")


@dataclass
class LoadedBark:
    """A loaded Bark. The backend uses it only through its methods, whose arguments and results are plain
    data (str, numbers, numpy arrays), so a warm model actor may hold it (cluster.models)."""

    model: Any  # transformers.BarkModel, on `device`, in eval mode
    processor: Any  # transformers.BarkProcessor (tokenizer + voice presets)
    device: str
    sample_rate: int  # Hz, 24000 for Bark
    path: str  # the model folder
    # Serialises generation on one model: Bark is heavy and seeding torch is process-wide.
    lock: threading.Lock

    def voice_presets(self) -> list[str]:
        """The voice presets whose files are in the model folder ("v2/en_speaker_6", ...)."""
        return list(self.processor.available_voice_presets)

    def count_tokens(self, text: str) -> int:
        """Text tokens of `text` (Bark's semantic model reads at most MAX_TEXT_TOKENS)."""
        return len(self.processor.tokenizer(text, add_special_tokens=False)["input_ids"])

    def speak(self, text: str, preset: str | None, max_semantic_tokens: int | None = None,
              seed: int | None = None) -> np.ndarray:
        """Speech for `text` as float32 samples at `sample_rate` Hz, in [-1, 1]. `preset`: a name from
        `voice_presets()`, or None to let Bark pick a voice; `max_semantic_tokens` caps the length (~50 a
        second); `seed` fixes the take (None: a fresh one)."""
        import torch

        inputs = self.processor(text, voice_preset=preset, return_tensors="pt")
        inputs = inputs.to(self.device)
        kwargs: dict[str, Any] = {"do_sample": True}
        if max_semantic_tokens:
            kwargs["semantic_max_new_tokens"] = int(max_semantic_tokens)
        with self.lock, torch.inference_mode():
            if seed is not None:
                torch.manual_seed(seed)
            waveform = self.model.generate(**inputs, **kwargs)
        samples = waveform[0].float().cpu().numpy().astype(np.float32)
        if samples.size == 0:
            raise BackendUnavailable("Bark produced no audio for this text; try rephrasing it")
        return np.clip(samples, -1.0, 1.0)


def _normalise_language(language: str) -> str:
    return (language or "en").strip().lower().replace("_", "-").split("-")[0]


class BarkBackend(SpeechBackend):
    name = "bark"
    tier = "neural"
    # Used through LoadedBark's plain-data methods: a warm model actor may hold it.
    shareable = True
    licence = "MIT"
    requires = ("torch", "transformers")
    local_dirs = LOCAL_DIRS
    weight_files = ("config.json", TRANSFORMERS_WEIGHTS)

    def __init__(self, model: str = DEFAULT_MODEL, max_semantic_tokens: int | None = None,
                 seed: int | None = None) -> None:
        # Preferred Hugging Face repository (searched first in the cache).
        self.model = model
        self.hub_repos = (model, *(r for r in HUB_REPOS if r != model))
        # Cap on semantic tokens per chunk (~50 per second of speech); None = the model's own limit (768, ~15 s).
        self.max_semantic_tokens = max_semantic_tokens
        # Fixed seed for reproducible output; None = a fresh random voice take each time.
        self.seed = seed

    def missing_weights(self, settings) -> str:
        return (
            f"Bark weights ({self.model}) not found: put a saved copy (config.json, model.safetensors, "
            f"tokenizer and speaker_embeddings) in {Path(settings.models_dir) / LOCAL_DIRS[0]}, "
            f"or download {self.model} into the Hugging Face cache (huggingface-cli download {self.model}) "
            "on a machine that can reach the Hub"
        )

    def presets(self) -> list[str]:
        return [f"v2/{lang}_speaker_{i}" for lang in LANGUAGES for i in range(10)]

    def synthesize(self, request: SpeechRequest, settings) -> Audio:
        text = " ".join(request.text.split())
        if not text:
            raise InputError("there is no text to speak")
        language = _normalise_language(request.language)
        preset = (request.preset or "").strip()
        if not preset and language not in DEFAULT_PRESETS:
            raise InputError(f"Bark speaks {', '.join(LANGUAGES)}; {request.language!r} is not one of them")
        if preset and not _PRESET_RE.match(preset):
            raise InputError(f"unknown Bark voice preset {preset!r}: use e.g. v2/en_speaker_0 .. v2/en_speaker_9")
        if request.speed != 1.0:
            log.info("Bark has no speaking-rate control; speed %.2f is ignored", request.speed)

        bark: LoadedBark = self.load(settings)
        history = self._voice_preset(bark, preset or DEFAULT_PRESETS[language], explicit=bool(preset))
        n_tokens = bark.count_tokens(text)
        if n_tokens > MAX_TEXT_TOKENS:
            raise InputError(f"this chunk is too long for Bark ({n_tokens} tokens, at most {MAX_TEXT_TOKENS}): "
                             "split it into shorter sentences")
        return zerogpu.run(self._speak, text, history, settings, seconds=zerogpu.speech_seconds(text))

    # ------------------------------------------------------------------ loading and generation

    def load_model(self, folder: Path, device: str) -> LoadedBark:
        return _load_bark(folder, device)

    def _speak(self, text: str, preset: str | None, settings) -> Audio:
        """The inference: on ZeroGPU inside spaces.GPU, in a process that inherited the loaded model;
        under the Ray executor in the model's warm actor."""
        bark: LoadedBark = self.load(settings)
        samples = bark.speak(text, preset, self.max_semantic_tokens, self.seed)
        return Audio(samples, bark.sample_rate)

    def _voice_preset(self, bark: LoadedBark, preset: str, explicit: bool) -> str | None:
        """The preset name the processor can load from local files, or None to let Bark pick a voice."""
        available = bark.voice_presets()
        for name in (preset, preset.removeprefix("v2/")):
            if name in available:
                return name
        if explicit:
            raise BackendUnavailable(f"voice preset {preset!r} is not in the local Bark files at {bark.path} "
                                     "(speaker_embeddings/): copy the full model folder, presets included")
        log.warning("Bark voice preset %s not found in %s; generating without a voice prompt", preset, bark.path)
        return None


def _load_bark(folder: Path, device: str) -> LoadedBark:
    from transformers import BarkModel, BarkProcessor

    processor, model, dtype = load_pretrained(folder, device, BarkProcessor, BarkModel, "Bark")
    if processor.speaker_embeddings is not None:
        # Voice presets are paths relative to the model folder: keep them there, never on the Hub.
        processor.speaker_embeddings["repo_or_path"] = str(folder)
    rate = int(getattr(model.generation_config, "sample_rate", 0) or model.config.codec_config.sampling_rate)
    log.info("Bark loaded from %s on %s (%s), %d Hz", folder, device, dtype, rate)
    return LoadedBark(model, processor, device, rate, str(folder), threading.Lock())
