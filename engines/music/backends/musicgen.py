"""MusicGen (Meta): instrumental music from a text prompt, through transformers, from local weights only.

Licences: the code is MIT; the released weights (`facebook/musicgen-small` and its siblings) are
CC-BY-NC 4.0, i.e. for non-commercial use only. The capabilities report says so.

Weights are looked for, in order, in the folder given by `settings.musicgen_model` (env MUSICGEN_MODEL;
a folder, or a Hugging Face repository id such as facebook/musicgen-medium looked up in the local cache),
else in `settings.models_dir / "musicgen-small"` or `"musicgen"`, else in the Hugging Face cache
(`facebook/musicgen-small`). Nothing is ever downloaded here: missing weights raise BackendUnavailable
saying where to put them. torch and transformers are imported on first use; the model is loaded once
through the model registry on the device the one device picker chooses (under the Ray executor, in a warm
model actor: the backend uses it only through `LoadedMusicGen`'s plain-data methods).

Length: MusicGen was trained on 30 s clips, so one window generates at most 30 s. Longer pieces are
generated window after window: each new window is conditioned on the text and on the last 10 s of the
audio so far (MusicGen's audio continuation), and the two takes of that context are crossfaded over its
last second, so the piece runs on without a seam. Up to `MAX_DURATION_S` is accepted.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.audio import Audio
from core.errors import BackendUnavailable, InputError
from core.progress import CancelToken, ProgressFn, no_progress
from engines import zerogpu
from engines.backend import Availability
from engines.music.backends import MusicBackend
from engines.weights import TRANSFORMERS_WEIGHTS, is_repo_id, load_pretrained, locate_weights

log = logging.getLogger(__name__)

DEFAULT_MODEL = "facebook/musicgen-small"
# Hugging Face repositories searched in the local cache, preferred first.
HUB_REPOS = ("facebook/musicgen-small",)
# Folder names searched under settings.models_dir.
LOCAL_DIRS = ("musicgen-small", "musicgen")
LICENCE = "CC-BY-NC 4.0 (weights: non-commercial use only); MIT (code)"
# Longest stretch one generation covers: MusicGen's training clips were 30 s.
MAX_WINDOW_S = 30.0
# Audio of the previous window a new window continues from, in seconds.
CONTEXT_S = 10.0
# Crossfade between the previous window and the new take of the context, in seconds.
CROSSFADE_S = 1.0
# Longest piece accepted, in seconds (15 windows of the real model; minutes of work even on a GPU).
MAX_DURATION_S = 300.0
# Classifier-free guidance accepted: 1 = off (follows the text loosely), 3 = the usual, higher = stricter.
MIN_GUIDANCE, MAX_GUIDANCE = 1.0, 15.0
# T5 reads at most 512 tokens; a prompt is a description, far shorter than that.
MAX_PROMPT_TOKENS = 256


@dataclass
class LoadedMusicGen:
    """A loaded MusicGen. The backend uses it only through its methods, whose arguments and results are
    plain data (str, numbers, numpy arrays; `progress` and `cancel` are the usual callback and token), so
    a warm model actor may hold it (cluster.models)."""

    model: Any  # transformers.MusicgenForConditionalGeneration, on `device`, in eval mode
    processor: Any  # transformers.MusicgenProcessor (T5 tokenizer + EnCodec feature extractor)
    device: str
    sample_rate: int  # Hz of the codec's output, 32000 for the released models
    frame_rate_hz: int  # codec frames (decoder steps) per second, 50 for the released models
    num_codebooks: int  # codebooks the decoder predicts per frame (the delay pattern adds num_codebooks - 1 steps)
    channels: int  # 1, or 2 for the stereo checkpoints
    path: str  # the model folder
    # Serialises generation on one model (and the seeding of torch's process-wide random state).
    lock: threading.Lock

    @property
    def hop(self) -> int:
        """Audio samples per codec frame (640 for the released models)."""
        return int(round(self.sample_rate / self.frame_rate_hz))

    def count_tokens(self, text: str) -> int:
        """Text tokens of `text` as the T5 encoder reads it."""
        return len(self.processor.tokenizer(text)["input_ids"])

    def plan(self, duration_s: float, max_window_s: float, context_s: float) -> tuple[int, list[int]]:
        """Frames of context and the new frames each window generates (their sum covers duration_s)."""
        frames_total = math.ceil(duration_s * self.sample_rate / self.hop)
        window = max(2, int(max_window_s * self.frame_rate_hz))
        context = min(window - 1, max(1, int(round(context_s * self.frame_rate_hz))))
        plan = [min(frames_total, window)]
        while sum(plan) < frames_total:
            plan.append(min(frames_total - sum(plan), window - context))
        return context, plan

    def compose(self, text: str, duration_s: float, seed: int, guidance_scale: float, *,
                max_window_s: float = MAX_WINDOW_S, context_s: float = CONTEXT_S, crossfade_s: float = CROSSFADE_S,
                progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> np.ndarray:
        """`duration_s` seconds of music for `text` at `sample_rate` Hz: float32 samples in [-1, 1], (n,) or
        (n, 2) for stereo. Pieces longer than `max_window_s` are generated window after window, each
        continuing from the last `context_s` seconds, crossfaded over `crossfade_s`. Progress is reported
        per decoder step; `cancel` is checked at every step."""
        import torch

        context, plan = self.plan(duration_s, max_window_s, context_s)
        delay = self.num_codebooks - 1  # the delay pattern costs this many extra steps per window
        total_steps = sum(n + delay for n in plan)
        xfade = max(1, min(int(round(crossfade_s * self.sample_rate)), context * self.hop))
        piece: np.ndarray | None = None  # (channels, samples) so far, a whole number of frames
        done = 0
        progress(0, total_steps, "composing with MusicGen")
        # Sampling draws from torch's process-wide generator: seed a forked copy so that the same seed gives
        # the same piece and the rest of the process keeps its own random state.
        fork_devices = [torch.device(self.device)] if self.device.startswith("cuda") else []
        with self.lock, torch.random.fork_rng(devices=fork_devices), torch.inference_mode():
            torch.manual_seed(seed)
            for i, new_frames in enumerate(plan):
                if cancel is not None:
                    cancel.raise_if_set()
                message = (f"composing with MusicGen, part {i + 1} of {len(plan)}" if len(plan) > 1
                           else "composing with MusicGen")
                watch = _StepWatch(progress, cancel, done, total_steps, message)
                prompt_audio = None if piece is None else piece[:, -context * self.hop:]
                window = self._window(text, prompt_audio, new_frames + delay, guidance_scale, watch)
                done += new_frames + delay
                if piece is None:
                    piece = window
                else:
                    piece = _join(piece, window, context * self.hop, xfade)
        progress(total_steps, total_steps, "music generated")
        n_samples = int(round(duration_s * self.sample_rate))
        out = piece[:, :n_samples]
        if out.shape[1] < n_samples:  # cannot happen with a consistent codec; refuse rather than pad
            raise BackendUnavailable(f"MusicGen returned {out.shape[1]} samples where {n_samples} were expected")
        if not np.isfinite(out).all():
            raise BackendUnavailable("MusicGen produced invalid samples (NaN or infinity); try another seed, "
                                     "or run on the CPU (DEVICE=cpu)")
        out = np.clip(out, -1.0, 1.0).astype(np.float32)
        return np.ascontiguousarray(out[0] if out.shape[0] == 1 else out.T)

    def _window(self, text: str, prompt_audio: np.ndarray | None, max_new_tokens: int, guidance_scale: float,
                watch: _StepWatch) -> np.ndarray:
        """One generation: the decoded audio as (channels, samples), prompt audio included when given."""
        from transformers import StoppingCriteriaList

        kwargs: dict[str, Any] = {"text": [text], "padding": True, "return_tensors": "pt"}
        if prompt_audio is not None:
            kwargs["audio"] = prompt_audio[0] if self.channels == 1 else prompt_audio
            kwargs["sampling_rate"] = self.sample_rate
        inputs = self.processor(**kwargs).to(self.device)
        if "input_values" in inputs:
            inputs["input_values"] = inputs["input_values"].to(self.model.dtype)
        values = self.model.generate(**inputs, do_sample=True, guidance_scale=guidance_scale,
                                     max_new_tokens=max_new_tokens, stopping_criteria=StoppingCriteriaList([watch]))
        if watch.steps < max_new_tokens:  # generation ended early (an end token): the piece would be short
            log.warning("MusicGen stopped after %d of %d steps", watch.steps, max_new_tokens)
        prompt_frames = 0 if prompt_audio is None else prompt_audio.shape[1] // self.hop
        expected = prompt_frames + max_new_tokens - (self.num_codebooks - 1)  # the output repeats the prompt
        audio = values[0].float().cpu().numpy()
        if audio.shape[-1] < expected * self.hop:
            raise BackendUnavailable(f"MusicGen stopped early ({audio.shape[-1] // self.hop} of {expected} frames)")
        return audio[:, :expected * self.hop]


def load_musicgen(folder: Path, device: str) -> LoadedMusicGen:
    """Load the model and its processor from `folder` (offline) onto `device`. Heavy: call through MODELS."""
    from transformers import AutoProcessor, MusicgenForConditionalGeneration

    processor, model, dtype = load_pretrained(folder, device, AutoProcessor, MusicgenForConditionalGeneration,
                                              "MusicGen")
    codec = model.config.audio_encoder
    loaded = LoadedMusicGen(model=model, processor=processor, device=device, sample_rate=int(codec.sampling_rate),
                            frame_rate_hz=int(codec.frame_rate), num_codebooks=int(model.decoder.num_codebooks),
                            channels=int(model.config.decoder.audio_channels), path=str(folder),
                            lock=threading.Lock())
    log.info("MusicGen loaded from %s on %s (%s): %d Hz, %d frames/s, %d codebooks", folder, device, dtype,
             loaded.sample_rate, loaded.frame_rate_hz, loaded.num_codebooks)
    return loaded


class _StepWatch:
    """A stopping criterion that never stops: it reports each decoder step and checks cancellation."""

    def __init__(self, progress: ProgressFn, cancel: CancelToken | None, done_before: int, total: int,
                 message: str) -> None:
        self.progress, self.cancel = progress, cancel
        self.done_before, self.total, self.message = done_before, total, message
        self.steps = 0
        self._every = max(1, total // 200)  # at most ~200 progress updates per piece

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        self.steps += 1
        if self.cancel is not None:
            self.cancel.raise_if_set()
        if self.steps % self._every == 0:
            self.progress(self.done_before + self.steps, self.total, self.message)
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


class MusicGenBackend(MusicBackend):
    name = "musicgen"
    title = "MusicGen"
    tier = "neural"
    licence = LICENCE
    model = DEFAULT_MODEL
    requires = ("torch", "transformers")
    local_dirs = LOCAL_DIRS
    hub_repos = HUB_REPOS
    weight_files = ("config.json", TRANSFORMERS_WEIGHTS)
    # Used through LoadedMusicGen's plain-data methods: a warm model actor may hold it.
    shareable = True

    def __init__(self, folder: Path | str | None = None, max_window_s: float = MAX_WINDOW_S,
                 context_s: float = CONTEXT_S, crossfade_s: float = CROSSFADE_S) -> None:
        # A model folder that overrides every other place (None = settings, models_dir, HF cache).
        self.folder = Path(folder) if folder else None
        # Longest stretch generated in one go, in seconds.
        self.max_window_s = float(max_window_s)
        # Seconds of the previous window each further window continues from (must be < max_window_s).
        self.context_s = float(context_s)
        # Seconds over which the previous window and the new take of the context are crossfaded (<= context_s).
        self.crossfade_s = min(float(crossfade_s), self.context_s)
        if not 0 < self.context_s < self.max_window_s:
            raise ValueError("context_s must be positive and shorter than max_window_s")

    # ------------------------------------------------------------------ where the weights are

    def _configured(self, settings) -> str:
        if self.folder is not None:
            return str(self.folder)
        return str(getattr(settings, "musicgen_model", "") or "").strip()

    def weights(self, settings) -> Path | None:
        """The folder holding MusicGen's config and weights, or None. Cheap: no model is loaded."""
        configured = self._configured(settings)
        if not configured:
            return super().weights(settings)
        # An explicit choice is used or reported, never silently replaced.
        if is_repo_id(configured):
            return locate_weights(settings, (), (configured,), self.weight_files)
        return locate_weights(settings, (str(Path(configured).expanduser().absolute()),), (), self.weight_files)

    def missing_weights(self, settings) -> str:
        configured = self._configured(settings)
        if configured and is_repo_id(configured):
            return (f"missing weights: MusicGen {configured} is not in the Hugging Face cache; download it "
                    f"(huggingface-cli download {configured}) on a machine that can reach the Hub")
        if configured:
            return (f"missing weights: MusicGen ({DEFAULT_MODEL} or a sibling) was expected in {configured}, "
                    "which holds no config.json with model weights; save the model there or fix MUSICGEN_MODEL")
        return (f"missing weights: MusicGen ({DEFAULT_MODEL}) not found: put a saved copy (config.json, "
                f"model.safetensors, tokenizer and preprocessor files) in {Path(settings.models_dir) / LOCAL_DIRS[0]}, "
                f"point MUSICGEN_MODEL at a folder, or download {DEFAULT_MODEL} into the Hugging Face cache "
                f"(huggingface-cli download {DEFAULT_MODEL}) on a machine that can reach the Hub")

    def availability(self, settings) -> Availability:
        found = super().availability(settings)
        if found.available:
            return Availability(True, f"{found.reason}; licence: {self.provenance(settings).licence}")
        return found

    def generate(self, prompt: str, duration_s: float, *, seed: int = 0, guidance_scale: float = 3.0,
                 progress: ProgressFn = no_progress, cancel: CancelToken | None = None, settings) -> Audio:
        """Instrumental music for `prompt` ("lofi hip hop with a calm piano"), `duration_s` seconds long.

        Returns float32 audio at the model's rate (32 kHz; mono, or (n, 2) for stereo checkpoints),
        exactly `duration_s` long to the sample. The same seed gives the same audio on the same device.
        `guidance_scale` (1..15) is classifier-free guidance: how strictly the music follows the text.
        Progress is reported per decoder step (50 a second of audio); `cancel` is checked at every step.
        """
        text = " ".join((prompt or "").split())
        if not text:
            raise InputError("describe the music to generate (for example: lofi hip hop with a calm piano)")
        try:
            duration_s = float(duration_s)
            guidance_scale = float(guidance_scale)
        except (TypeError, ValueError):
            raise InputError("duration and guidance must be numbers") from None
        if not math.isfinite(duration_s) or not 0 < duration_s <= MAX_DURATION_S:
            raise InputError(f"MusicGen makes pieces from a fraction of a second up to {MAX_DURATION_S:g} s; "
                             f"{duration_s:g} s was asked for")
        if not MIN_GUIDANCE <= guidance_scale <= MAX_GUIDANCE:
            raise InputError(f"guidance must be between {MIN_GUIDANCE:g} and {MAX_GUIDANCE:g}, got {guidance_scale:g}")
        if cancel is not None:
            cancel.raise_if_set()

        mg: LoadedMusicGen = self.load(settings)
        n_tokens = mg.count_tokens(text)
        if n_tokens > MAX_PROMPT_TOKENS:
            raise InputError(f"the description is too long for MusicGen ({n_tokens} tokens, at most "
                             f"{MAX_PROMPT_TOKENS}): describe the music in fewer words")
        samples = zerogpu.run(self._compose, text, duration_s, int(seed), guidance_scale, settings,
                              progress=progress, cancel=cancel, scratch=getattr(settings, "scratch_dir", None),
                              seconds=zerogpu.music_seconds(duration_s))
        return Audio(samples, mg.sample_rate)

    # ------------------------------------------------------------------ loading and generation

    def load_model(self, folder: Path, device: str) -> LoadedMusicGen:
        return load_musicgen(folder, device)

    def _compose(self, text: str, duration_s: float, seed: int, guidance_scale: float, settings, *,
                 progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> np.ndarray:
        """The inference: on ZeroGPU inside spaces.GPU, in a process that inherited the loaded model; under
        the Ray executor in the model's warm actor (progress and cancel relayed)."""
        mg: LoadedMusicGen = self.load(settings)
        return mg.compose(text, duration_s, seed, guidance_scale, max_window_s=self.max_window_s,
                          context_s=self.context_s, crossfade_s=self.crossfade_s, progress=progress, cancel=cancel)


def _join(piece: np.ndarray, window: np.ndarray, context_samples: int, xfade: int) -> np.ndarray:
    """Append `window` (which starts with a new take of the last `context_samples` of `piece`) to `piece`,
    crossfading the two takes over the last `xfade` samples of the context."""
    head = piece[:, :piece.shape[1] - xfade]
    fade_in = np.linspace(0.0, 1.0, xfade, dtype=np.float32)
    overlap = piece[:, -xfade:] * (1.0 - fade_in) + window[:, context_samples - xfade:context_samples] * fade_in
    return np.concatenate([head, overlap, window[:, context_samples:]], axis=1)
