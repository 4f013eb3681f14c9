"""Bark backend: the real loading and generation code on a tiny random-weight Bark saved to disk.

Random weights speak noise, so these tests check the plumbing (files found, model loaded through
from_pretrained, voice presets, caps, seed, rate, dtype), not what the audio sounds like.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from core.errors import BackendUnavailable, InputError
from engines.backend import Provenance
from engines.voice.backends.bark import BarkBackend
from engines.voice.backends.base import SpeechRequest
from settings import Settings

RATE = 24_000
SAMPLES_PER_COARSE_FRAME = RATE // 75  # EnCodec at 24 kHz: 75 frames a second
SEMANTIC_HZ = 49.9
PRESETS = ("v2/en_speaker_6", "v2/de_speaker_0")  # shipped with the tiny model; others are missing on purpose


def _build_tiny_bark(folder: Path) -> None:
    """A random-weight Bark with the real vocabulary layout, its tokenizer and two voice presets."""
    import torch
    from transformers import BarkConfig, BarkModel, BarkProcessor, BertTokenizer, EncodecConfig, GenerationConfig
    from transformers.models.bark.configuration_bark import BarkCoarseConfig, BarkFineConfig, BarkSemanticConfig
    from transformers.models.bark.generation_configuration_bark import (
        BarkCoarseGenerationConfig,
        BarkFineGenerationConfig,
        BarkSemanticGenerationConfig,
    )

    # A large initializer_range makes logits peaky, so the text and the voice prompt steer the tokens.
    tiny = dict(num_layers=1, num_heads=2, hidden_size=16, block_size=1024, initializer_range=1.0)
    config = BarkConfig(
        semantic_config=BarkSemanticConfig(input_vocab_size=129_600, output_vocab_size=10_048, **tiny).to_dict(),
        coarse_acoustics_config=BarkCoarseConfig(input_vocab_size=12_096, output_vocab_size=12_096, **tiny).to_dict(),
        fine_acoustics_config=BarkFineConfig(input_vocab_size=1_056, output_vocab_size=1_056, n_codes_total=8,
                                             n_codes_given=1, **tiny).to_dict(),
        codec_config=EncodecConfig(sampling_rate=RATE, codebook_size=1024, hidden_size=16, num_filters=4,
                                   num_residual_layers=1, num_lstm_layers=1, upsampling_ratios=[8, 5, 4, 2],
                                   target_bandwidths=[1.5, 3.0, 6.0, 12.0, 24.0]).to_dict(),
    )
    torch.manual_seed(0)
    model = BarkModel(config).eval()
    # EnCodec initialises its codebooks to zeros, which would make every token decode alike; random
    # codebooks make the waveform depend on the generated tokens, so seeds and voice presets show.
    with torch.no_grad():
        for layer in model.codec_model.quantizer.layers:
            layer.codebook.embed.normal_()
    # transformers 5.x cannot save a BarkGenerationConfig: store the nested configs as plain dicts.
    model.generation_config = GenerationConfig(
        semantic_config=BarkSemanticGenerationConfig().to_diff_dict(),
        coarse_acoustics_config=BarkCoarseGenerationConfig().to_diff_dict(),
        fine_acoustics_config=BarkFineGenerationConfig().to_diff_dict(),
        sample_rate=RATE,
        codebook_size=1024,
    )
    model.save_pretrained(folder)

    # Offline tokenizer: a small WordPiece vocabulary instead of bert-base-multilingual-cased.
    vocab = folder.parent / "vocab.txt"
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz.,!?'",
             "hello", "world", "the", "guten", "tag", "this", "is", "a", "test"]
    vocab.write_text("\n".join(words) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(str(vocab), do_lower_case=True)

    # Voice presets as the real repo lays them out: speaker_embeddings/v2/<lang>_speaker_<n>_<kind>.npy.
    rng = np.random.default_rng(0)
    staging = folder.parent / "presets"
    embeddings: dict = {"repo_or_path": str(staging)}
    for name in PRESETS:
        arrays = {
            "semantic_prompt": rng.integers(0, 10_000, 50),  # ~1 s of semantic tokens
            "coarse_prompt": rng.integers(0, 1024, (2, 75)),  # 2 codebooks x 1 s
            "fine_prompt": rng.integers(0, 1024, (8, 75)),  # 8 codebooks x 1 s
        }
        entry = {}
        for kind, array in arrays.items():
            rel = f"{name}_{kind}.npy"
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            np.save(staging / rel, array)
            entry[kind] = rel
        embeddings[name] = entry
    BarkProcessor(tokenizer, speaker_embeddings=embeddings).save_pretrained(str(folder))
    shutil.rmtree(staging)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    import torch

    # The tiny model gains nothing from intra-op threads, and on a busy 2-core machine OpenMP's
    # spinning threads make each generation ~10x slower (2.7 s instead of 0.25 s, measured).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("bark") / "models"
    _build_tiny_bark(root / "bark")
    yield root
    BarkBackend().unload(Settings(models_dir=root))
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


def _max_samples(semantic_tokens: int) -> int:
    """Upper bound on the waveform length Bark can produce from this many semantic tokens."""
    return (math.ceil(semantic_tokens * 75 / SEMANTIC_HZ) + 1) * SAMPLES_PER_COARSE_FRAME


def test_tiny_model_is_found_and_reported(models_dir, empty_hub_cache, backends):
    settings = Settings(models_dir=models_dir)
    a = BarkBackend().availability(settings)
    assert a.available, a.reason
    assert str(models_dir / "bark") in a.reason
    offered = backends.get("voice", "bark")
    assert (offered.tier, offered.licence) == ("neural", "MIT")
    assert backends.availability("voice", "bark", settings).available
    # A saved copy that does not say which Bark it is is recorded as its folder, under Bark's licence.
    assert offered.provenance(settings) == Provenance(str(models_dir / "bark"), "MIT")


def test_synthesize_runs_the_real_model(models_dir, empty_hub_cache):
    backend = BarkBackend(max_semantic_tokens=16, seed=1)
    audio = backend.synthesize(SpeechRequest("Hello world, this is a test."), Settings(models_dir=models_dir))
    assert audio.sample_rate == RATE
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert 0 < len(audio.samples) <= _max_samples(16)
    assert np.isfinite(audio.samples).all()
    assert np.abs(audio.samples).max() <= 1.0
    assert backend.is_loaded(Settings(models_dir=models_dir))


def test_semantic_cap_bounds_the_length_and_seed_repeats(models_dir, empty_hub_cache):
    settings = Settings(models_dir=models_dir)
    request = SpeechRequest("hello world", language="en")
    short = BarkBackend(max_semantic_tokens=8, seed=3).synthesize(request, settings)
    longer = BarkBackend(max_semantic_tokens=24, seed=3).synthesize(request, settings)
    assert 0 < len(short.samples) <= _max_samples(8)
    assert len(short.samples) < len(longer.samples) <= _max_samples(24)
    again = BarkBackend(max_semantic_tokens=8, seed=3).synthesize(request, settings)
    np.testing.assert_array_equal(short.samples, again.samples)
    other = BarkBackend(max_semantic_tokens=8, seed=4).synthesize(request, settings)
    assert not np.array_equal(short.samples, other.samples)


def test_language_picks_a_local_preset_and_bad_presets_are_refused(models_dir, empty_hub_cache):
    settings = Settings(models_dir=models_dir)
    backend = BarkBackend(max_semantic_tokens=8, seed=0)
    german = backend.synthesize(SpeechRequest("guten tag", language="de-DE"), settings)
    explicit = backend.synthesize(SpeechRequest("guten tag", language="de", preset="v2/de_speaker_0"), settings)
    np.testing.assert_array_equal(german.samples, explicit.samples)  # de -> v2/de_speaker_0
    english = backend.synthesize(SpeechRequest("guten tag", language="en"), settings)
    assert not np.array_equal(german.samples, english.samples)  # a different voice prompt
    # No preset files for French in the tiny model: the default preset is skipped, Bark picks a voice.
    assert len(backend.synthesize(SpeechRequest("hello", language="fr"), settings).samples) > 0

    with pytest.raises(BackendUnavailable, match="fr_speaker_3"):  # known name, files absent
        backend.synthesize(SpeechRequest("hello", preset="v2/fr_speaker_3"), settings)
    for bad in ("../../../etc/passwd", "/tmp/voice.npz", "alloy"):  # never handed to np.load
        with pytest.raises(InputError, match="preset"):
            backend.synthesize(SpeechRequest("hello", preset=bad), settings)
    with pytest.raises(InputError, match="nl"):
        backend.synthesize(SpeechRequest("hallo", language="nl"), settings)
    with pytest.raises(InputError, match="too long"):
        backend.synthesize(SpeechRequest("hello " * 300), settings)
    assert "v2/en_speaker_0" in backend.presets() and "v2/zh_speaker_9" in backend.presets()


def test_weights_found_in_the_hugging_face_cache(models_dir, empty_hub_cache, tmp_path):
    snapshot = empty_hub_cache / "models--suno--bark-small" / "snapshots" / "0123abcd"
    shutil.copytree(models_dir / "bark", snapshot)
    (empty_hub_cache / "models--suno--bark-small" / "refs").mkdir()
    (empty_hub_cache / "models--suno--bark-small" / "refs" / "main").write_text("0123abcd")
    settings = Settings(models_dir=tmp_path / "no-models")
    backend = BarkBackend(max_semantic_tokens=8, seed=0)
    assert backend.weights(settings) == snapshot
    assert backend.provenance(settings) == Provenance("suno/bark-small", "MIT")
    assert backend.availability(settings).available
    try:
        audio = backend.synthesize(SpeechRequest("hello world"), settings)
        assert audio.sample_rate == RATE and len(audio.samples) > 0
    finally:
        assert backend.unload(settings)


def test_missing_weights_are_reported_not_faked(tmp_path, empty_hub_cache):
    settings = Settings(models_dir=tmp_path / "models")
    (tmp_path / "models" / "bark").mkdir(parents=True)  # an empty folder is not a model
    backend = BarkBackend()
    a = backend.availability(settings)
    assert not a.available
    assert "Bark weights" in a.reason and "suno/bark-small" in a.reason
    assert str(tmp_path / "models" / "bark") in a.reason
    with pytest.raises(BackendUnavailable, match="Bark weights .* not found"):
        backend.synthesize(SpeechRequest("hello"), settings)


def test_module_import_is_light():
    import subprocess
    import sys

    code = ("import sys; import engines.voice.backends.bark; "
            "print(sorted(m for m in ('torch', 'transformers', 'huggingface_hub') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[3]).stdout.strip()
    assert out == "[]"
