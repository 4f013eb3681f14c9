"""MusicGen backend: the real loading and generation code on a tiny random-weight MusicGen saved to disk.

Random weights make noise, not music, so these tests check the plumbing the real model goes through
(files found, from_pretrained, codec rate and frame maths, seeds, windows, progress, cancellation).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from core.errors import BackendUnavailable, Cancelled, InputError
from core.progress import CancelToken
from engines.backend import Provenance
from engines.music.backends.musicgen import DEFAULT_MODEL, MusicGenBackend
from engines.registry import MODELS
from settings import Settings
from tests.engines.music.tiny_musicgen import FRAME_RATE_HZ, HOP, NUM_CODEBOOKS, RATE_HZ, build_tiny_musicgen

PROMPT = "lofi hip hop with a calm piano"


@dataclass(frozen=True)
class MusicSettings(Settings):
    # The MUSICGEN_MODEL setting (a folder or a Hugging Face repository id).
    musicgen_model: str = ""


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    import torch

    # The tiny model gains nothing from intra-op threads, and on a busy 2-core machine OpenMP's
    # spinning threads make each generation many times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("musicgen") / "models"
    build_tiny_musicgen(root / "musicgen-small")
    yield root
    for key in [m["key"] for m in MODELS.loaded() if m["key"].startswith("music:musicgen:")]:
        MODELS.unload(key)
    torch.set_num_threads(threads)


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch) -> Path:
    """Point huggingface_hub at an empty cache so a real cache on this machine cannot interfere."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def settings(models_dir, empty_hub_cache) -> Settings:
    return Settings(models_dir=models_dir, device="cpu")


def test_tiny_model_is_found_and_reported(settings, models_dir, backends):
    a = MusicGenBackend().availability(settings)
    assert a.available, a.reason
    assert str(models_dir / "musicgen-small") in a.reason and "non-commercial" in a.reason
    offered = backends.get("music", "musicgen")
    assert offered.tier == "neural" and "CC-BY-NC 4.0" in offered.licence
    assert backends.names("music") == ["musicgen"] and backends.availability("music", "musicgen", settings).available
    with pytest.raises(InputError, match="unknown music backend"):
        backends.get("music", "jukebox")


def test_generate_runs_the_real_model(settings, models_dir):
    calls: list[tuple[float, float, str]] = []
    audio = MusicGenBackend().generate(PROMPT, 1.0, seed=1, settings=settings,
                                       progress=lambda d, t, m="": calls.append((d, t, m)))
    assert audio.sample_rate == RATE_HZ
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert abs(len(audio.samples) - RATE_HZ * 1.0) < HOP  # within one codec frame (exact, in fact)
    assert np.isfinite(audio.samples).all() and np.abs(audio.samples).max() <= 1.0
    assert np.sqrt(np.mean(audio.samples ** 2)) > 1e-3  # real decoded codes, not silence
    assert MusicGenBackend().is_loaded(settings)
    assert MusicGenBackend().model_key(settings) == f"music:musicgen:{models_dir / 'musicgen-small'}:cpu"

    # One call per decoder step: 50 frames plus the delay pattern's 3, then a final report.
    steps = FRAME_RATE_HZ + NUM_CODEBOOKS - 1
    assert calls[0][:2] == (0, steps) and calls[-1][:2] == (steps, steps)
    done = [d for d, _, _ in calls]
    assert done == sorted(done) and len(calls) >= steps
    assert "MusicGen" in calls[1][2]


def test_duration_follows_the_request(settings):
    backend = MusicGenBackend()
    for duration_s in (0.05, 0.37, 1.5):
        audio = backend.generate("calm piano", duration_s, settings=settings)
        assert len(audio.samples) == round(duration_s * RATE_HZ), duration_s
        assert np.abs(audio.samples).max() > 0


def test_seed_repeats_and_changes_the_music(settings):
    backend = MusicGenBackend()
    first = backend.generate(PROMPT, 0.6, seed=7, settings=settings)
    again = backend.generate(PROMPT, 0.6, seed=7, settings=settings)
    np.testing.assert_array_equal(first.samples, again.samples)
    other = backend.generate(PROMPT, 0.6, seed=8, settings=settings)
    assert not np.array_equal(first.samples, other.samples)
    assert np.mean(np.abs(first.samples - other.samples)) > 1e-3
    # The text conditions the decoder through cross-attention and guidance.
    drums = backend.generate("epic orchestral drums", 0.6, seed=7, settings=settings)
    assert not np.array_equal(first.samples, drums.samples)


def test_seeding_leaves_the_process_random_state_alone(settings):
    import torch

    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    MusicGenBackend().generate(PROMPT, 0.2, seed=5, settings=settings)
    assert torch.equal(torch.rand(4), expected)


def test_long_pieces_continue_window_after_window(settings):
    # Windows of 1 s continuing from the last 0.4 s stand in for the real model's 30 s and 10 s.
    backend = MusicGenBackend(max_window_s=1.0, context_s=0.4, crossfade_s=0.1)
    calls: list[tuple[float, float, str]] = []
    long = backend.generate(PROMPT, 2.3, seed=3, settings=settings,
                            progress=lambda d, t, m="": calls.append((d, t, m)))
    assert len(long.samples) == round(2.3 * RATE_HZ)
    assert np.isfinite(long.samples).all()
    # Windows of 50, 30, 30 and 5 new frames, each with the delay pattern's 3 extra steps.
    total = (50 + 3) + (30 + 3) + (30 + 3) + (5 + 3)
    assert {t for _, t, _ in calls} == {total} and calls[-1][0] == total
    assert any("part 4 of 4" in m for _, _, m in calls)

    # The first window is the same take a 1 s piece with that seed gets; the crossfade starts
    # 0.1 s before its end, and the continuation has sound all the way to the end.
    short = backend.generate(PROMPT, 1.0, seed=3, settings=settings)
    head = RATE_HZ - int(0.1 * RATE_HZ)
    np.testing.assert_array_equal(long.samples[:head], short.samples[:head])
    assert not np.array_equal(long.samples[head:RATE_HZ], short.samples[head:])
    for start in np.arange(1.0, 2.3, 0.25):
        chunk = long.samples[int(start * RATE_HZ):int((start + 0.25) * RATE_HZ)]
        assert np.sqrt(np.mean(chunk ** 2)) > 1e-3, start


def test_cancellation_stops_generation(settings):
    backend = MusicGenBackend()
    token = CancelToken()
    seen: list[float] = []

    def progress(done: float, total: float, message: str = "") -> None:
        seen.append(done)
        if done >= 5:
            token.cancel()

    with pytest.raises(Cancelled):
        backend.generate(PROMPT, 2.0, settings=settings, progress=progress, cancel=token)
    assert max(seen) < 10  # stopped within a step of the request, not after 103 steps
    with pytest.raises(Cancelled):  # an already cancelled job does not start
        backend.generate(PROMPT, 1.0, settings=settings, cancel=token)
    # The model is free again afterwards.
    assert len(backend.generate(PROMPT, 0.2, settings=settings).samples) == round(0.2 * RATE_HZ)


def test_explicit_folder_and_setting(models_dir, empty_hub_cache, tmp_path):
    folder = tmp_path / "my-musicgen"
    shutil.copytree(models_dir / "musicgen-small", folder)
    elsewhere = tmp_path / "no-models"
    try:
        for backend, settings in ((MusicGenBackend(folder=folder), Settings(models_dir=elsewhere, device="cpu")),
                                  (MusicGenBackend(), MusicSettings(models_dir=elsewhere, device="cpu",
                                                                    musicgen_model=str(folder)))):
            assert backend.weights(settings) == folder
            assert len(backend.generate("happy guitar", 0.3, settings=settings).samples) == round(0.3 * RATE_HZ)
    finally:
        MODELS.unload(f"music:musicgen:{folder}:cpu")


def test_weights_found_in_the_hugging_face_cache(models_dir, empty_hub_cache, tmp_path):
    repo = empty_hub_cache / "models--facebook--musicgen-small"
    snapshot = repo / "snapshots" / "0123abcd"
    shutil.copytree(models_dir / "musicgen-small", snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    settings = Settings(models_dir=tmp_path / "no-models", device="cpu")
    assert MusicGenBackend().weights(settings) == snapshot
    assert MusicGenBackend().availability(settings).available
    # A repository id as the setting is looked up in the same cache.
    named = MusicSettings(models_dir=tmp_path / "no-models", musicgen_model="facebook/musicgen-small")
    assert MusicGenBackend().weights(named) == snapshot
    medium = MusicSettings(models_dir=models_dir, musicgen_model="facebook/musicgen-medium")
    a = MusicGenBackend().availability(medium)  # named explicitly: the small model is not used instead
    assert not a.available and "facebook/musicgen-medium" in a.reason and "missing weights" in a.reason


def test_missing_weights_are_reported_not_faked(tmp_path, empty_hub_cache):
    settings = Settings(models_dir=tmp_path / "models", device="cpu")
    (tmp_path / "models" / "musicgen-small").mkdir(parents=True)  # an empty folder is not a model
    for backend, s in ((MusicGenBackend(), settings),
                       (MusicGenBackend(folder=tmp_path / "does-not-exist"), settings),
                       (MusicGenBackend(), MusicSettings(models_dir=tmp_path / "models",
                                                         musicgen_model=str(tmp_path / "nope")))):
        a = backend.availability(s)
        assert not a.available
        assert "missing weights" in a.reason and DEFAULT_MODEL in a.reason
        with pytest.raises(BackendUnavailable, match="missing weights"):
            backend.generate(PROMPT, 1.0, settings=s)
    assert str(tmp_path / "models" / "musicgen-small") in MusicGenBackend().availability(settings).reason


def test_bad_requests_are_refused(settings):
    backend = MusicGenBackend()
    with pytest.raises(InputError, match="describe the music"):
        backend.generate("   ", 1.0, settings=settings)
    for duration_s in (0, -1, math.nan, 301):
        with pytest.raises(InputError, match="up to 300 s"):
            backend.generate(PROMPT, duration_s, settings=settings)
    with pytest.raises(InputError, match="guidance must be between 1 and 15"):
        backend.generate(PROMPT, 1.0, guidance_scale=0.5, settings=settings)
    with pytest.raises(InputError, match="too long"):
        backend.generate("calm piano " * 200, 1.0, settings=settings)


def test_module_import_is_light():
    code = ("import sys; import engines.music.backends.musicgen, engines.llm; "
            "print(sorted(m for m in ('torch', 'transformers', 'huggingface_hub', 'openai') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[3]).stdout.strip()
    assert out == "[]"


@pytest.mark.requires_gpu
def test_generate_on_the_gpu_in_half_precision(models_dir, empty_hub_cache):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    settings = Settings(models_dir=models_dir, device="cuda")
    try:
        audio = MusicGenBackend().generate(PROMPT, 1.0, seed=2, settings=settings)
        again = MusicGenBackend().generate(PROMPT, 1.0, seed=2, settings=settings)
        assert audio.samples.dtype == np.float32 and len(audio.samples) == RATE_HZ
        assert np.isfinite(audio.samples).all() and np.abs(audio.samples).max() > 0
        np.testing.assert_array_equal(audio.samples, again.samples)
    finally:
        MusicGenBackend().unload(settings)


def test_a_generation_records_the_weights_in_use(models_dir, empty_hub_cache, tmp_path):
    from engines.music.backends.musicgen import LICENCE

    default = Settings(models_dir=models_dir, device="cpu")
    assert MusicGenBackend().provenance(default) == Provenance(str(models_dir / "musicgen-small"), LICENCE)
    # MUSICGEN_MODEL naming other weights: their repository and the licence their model card declares.
    repo = empty_hub_cache / "models--someone--musicgen-lofi"
    snapshot = repo / "snapshots" / "4567cdef"
    shutil.copytree(models_dir / "musicgen-small", snapshot)
    (snapshot / "README.md").write_text("---\nlicense: apache-2.0\npipeline_tag: text-to-audio\n---\n# lofi\n")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("4567cdef")
    named = MusicSettings(models_dir=tmp_path / "no-models", device="cpu", musicgen_model="someone/musicgen-lofi")
    assert MusicGenBackend().provenance(named) == Provenance("someone/musicgen-lofi", "apache-2.0")
    assert "apache-2.0" in MusicGenBackend().availability(named).reason
