"""ZeroGPU: with the `spaces` package present, Bark and MusicGen run their inference inside `spaces.GPU`
with a duration from the request; without it, nothing changes.

The `spaces` here is a stand-in put on sys.modules: its GPU(task, duration=...) records each call's
duration and whether the model ran inside the call, and, like the real package (which sends them to its
GPU process through a pipe), pickles the call's arguments on the way in. The models are the tiny
random-weight Bark and MusicGen of their own tests, run through their real loading and generation code.
"""

from __future__ import annotations

import importlib.machinery
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from core.progress import Cancelled, CancelToken
from engines import zerogpu
from engines.music.backends.musicgen import MusicGenBackend
from engines.voice.backends.bark import BarkBackend
from engines.voice.backends.base import SpeechRequest
from settings import Settings
from tests.engines.music.tiny_musicgen import build_tiny_musicgen
from tests.engines.voice.test_bark import _build_tiny_bark


class FakeSpaces(types.ModuleType):
    """The part of the `spaces` package the app uses: `spaces.GPU(task, duration=callable)`."""

    def __init__(self) -> None:
        super().__init__("spaces")
        self.__spec__ = importlib.machinery.ModuleSpec("spaces", None)
        self.durations: list[int] = []
        self.inside = False

    def GPU(self, task=None, *, duration=None, size=None):
        if task is None:
            return lambda t: self.GPU(t, duration=duration, size=size)

        def on_gpu(*args, **kwargs):
            self.durations.append(duration(*args, **kwargs) if callable(duration) else duration)
            args, kwargs = pickle.loads(pickle.dumps((args, kwargs)))  # what crosses into the GPU process
            self.inside = True
            try:
                return task(*args, **kwargs)
            finally:
                self.inside = False

        return on_gpu


@pytest.fixture
def use_spaces(monkeypatch):
    """Put the stand-in `spaces` on sys.modules; call it to install it (zerogpu forgets it afterwards)."""

    def install() -> FakeSpaces:
        fake = FakeSpaces()
        monkeypatch.setitem(sys.modules, "spaces", fake)
        zerogpu._reset()
        assert zerogpu.install() and zerogpu.active()
        return fake

    zerogpu._reset()
    yield install
    zerogpu._reset()


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only spin (see tests/engines/voice/test_bark.py)
    root = tmp_path_factory.mktemp("zerogpu") / "models"
    _build_tiny_bark(root / "bark")
    build_tiny_musicgen(root / "musicgen-small")
    yield root
    settings = Settings(models_dir=root, device="cpu")
    BarkBackend().unload(settings)
    MusicGenBackend().unload(settings)
    torch.set_num_threads(threads)


def _watch(monkeypatch, model, seen: list[bool]) -> None:
    """Record, at each generate() of the loaded model, whether it ran inside spaces.GPU."""
    generate = model.generate
    monkeypatch.setattr(model, "generate", lambda *a, **k: (
        seen.append(getattr(sys.modules.get("spaces"), "inside", False)), generate(*a, **k))[1])


def test_without_the_package_nothing_changes(monkeypatch):
    monkeypatch.setitem(sys.modules, "spaces", None)  # "import spaces" fails, as where it is not installed
    zerogpu._reset()
    assert zerogpu.install() is False and not zerogpu.active()
    token = CancelToken()
    got = zerogpu.run(lambda x, progress, cancel: (x, progress, cancel), 1, seconds=30, progress=print, cancel=token)
    assert got == (1, print, token)  # called as it is: progress and cancel reach it


def test_the_real_package_off_zerogpu_hands_the_function_back(use_spaces, monkeypatch):
    fake = FakeSpaces()
    fake.GPU = lambda task=None, *, duration=None, size=None: task  # what spaces does off a ZeroGPU Space
    monkeypatch.setitem(sys.modules, "spaces", fake)
    assert zerogpu.install() is False
    assert zerogpu.run(lambda x, progress: progress, 1, seconds=30, progress=print) is print


def test_bark_speaks_inside_spaces_gpu_for_the_time_its_text_needs(use_spaces, models_dir, monkeypatch):
    settings = Settings(models_dir=models_dir, device="cpu")
    backend = BarkBackend(seed=3, max_semantic_tokens=20)
    text = "hello world this is a test"
    seen: list[bool] = []
    _watch(monkeypatch, backend.load(settings).model, seen)
    plain = backend.synthesize(SpeechRequest(text=text), settings)

    fake = use_spaces()
    on_gpu = backend.synthesize(SpeechRequest(text=text), settings)
    assert fake.durations == [zerogpu.speech_seconds(text)]
    assert seen == [False, True]  # the model ran inside the GPU call, and only there
    assert on_gpu.sample_rate == plain.sample_rate == 24_000
    np.testing.assert_array_equal(on_gpu.samples, plain.samples)  # the same speech, seed for seed


def test_musicgen_composes_inside_spaces_gpu_for_the_length_asked(use_spaces, models_dir, monkeypatch, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", models_dir=models_dir, device="cpu")
    backend = MusicGenBackend()
    plain = backend.generate("calm piano", 0.6, seed=5, settings=settings)

    fake = use_spaces()
    seen: list[bool] = []
    _watch(monkeypatch, backend.load(settings).model, seen)
    reports: list[tuple] = []
    on_gpu = backend.generate("calm piano", 0.6, seed=5, settings=settings,
                              progress=lambda d, t, m="": reports.append((d, t, m)), cancel=CancelToken())
    assert fake.durations == [zerogpu.music_seconds(0.6)] and seen == [True]
    np.testing.assert_array_equal(on_gpu.samples, plain.samples)
    # The job hears that it is on the GPU, then the GPU process's own reports, passed across: the last is its end.
    assert "ZeroGPU" in reports[0][2] and reports[-1] == (33, 33, "music generated")  # 30 frames + 3 of delay
    assert list(settings.scratch_dir.iterdir()) == []  # the relay's folder is gone

    cancelled = CancelToken()
    cancelled.cancel()
    with pytest.raises(Cancelled):
        backend.generate("calm piano", 0.6, settings=settings, cancel=cancelled)
    assert len(fake.durations) == 1  # a cancelled job books no GPU time


def test_a_cancel_reaches_the_gpu_process_mid_piece(use_spaces, models_dir, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", models_dir=models_dir, device="cpu")
    backend = MusicGenBackend()
    backend.load(settings)
    fake = use_spaces()
    token = CancelToken()
    steps: list[float] = []

    def progress(done: float, total: float, message: str = "") -> None:
        steps.append(done)
        if done >= 5:
            token.cancel()

    with pytest.raises(Cancelled):
        backend.generate("calm piano", 20.0, settings=settings, progress=progress, cancel=token)
    total = 20 * 50 + 3  # decoder steps of 20 s at 50 frames a second, plus the delay pattern's 3
    assert fake.durations and 5 <= max(steps) < total  # stopped inside the GPU call, well before its end
    assert list(settings.scratch_dir.iterdir()) == []


def test_durations_grow_with_the_request_within_bounds():
    assert zerogpu.speech_seconds("") == zerogpu.MIN_SECONDS
    assert zerogpu.speech_seconds("word " * 40) < zerogpu.speech_seconds("word " * 160) <= zerogpu.MAX_SECONDS
    assert zerogpu.music_seconds(10) < zerogpu.music_seconds(30) < zerogpu.music_seconds(120)
    assert zerogpu.music_seconds(30) >= 30 + zerogpu.MUSIC_BASE_S  # at least the music's own length
    assert zerogpu.music_seconds(10_000) == zerogpu.MAX_SECONDS
