"""Warm model actors without a cluster: the actor's class run in this process behind a stand-in that lets only
plain data through (pickled both ways), as a Ray actor does. Bark and MusicGen give the same audio through it
as without it, MusicGen's progress comes back and a cancel stops it; where a model goes (GPU or CPU, which
resources its actor holds) follows the settings and the cluster."""

from __future__ import annotations

import pickle
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cluster.models import ModelHolder, ModelPlacement
from core.errors import Cancelled, InputError
from core.progress import CancelToken, no_progress
from engines.registry import ModelRegistry

PLAIN = (str, int, float, bool, type(None), np.ndarray, np.generic)


def plain(value) -> bool:
    """Numbers, strings, numpy arrays, and lists, tuples and dicts of them."""
    if isinstance(value, (list, tuple)):
        return all(plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    return isinstance(value, PLAIN)


class StandIn:
    """What cluster.models.RemoteModel is to an actor, in this process: the holder's plain attributes copied,
    calls pickled both ways and refused unless plain; `progress` and `cancel` relayed through `stream`."""

    def __init__(self, holder: ModelHolder, loader) -> None:
        self._holder, self._methods = holder, []
        self.__dict__.update(pickle.loads(pickle.dumps(holder.ensure(loader))))

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args, **kwargs):
            progress, cancel = kwargs.pop("progress", None), kwargs.pop("cancel", None)
            progress = None if progress is no_progress else progress
            assert plain((args, kwargs)), f"{name}() was given more than plain data: {args!r} {kwargs!r}"
            args, kwargs = pickle.loads(pickle.dumps((args, kwargs)))
            self._methods.append(name)
            relay = tuple(n for n, v in (("progress", progress), ("cancel", cancel)) if v is not None)
            if not relay:
                result = self._holder.call(name, args, kwargs)
            else:
                self._holder._cancelled = lambda: cancel is not None and cancel.is_set
                for kind, value in self._holder.stream(name, args, kwargs, relay):
                    if kind == "result":
                        result = value
                    elif progress is not None:
                        progress(*value)
            assert plain(result), f"{name}() returned more than plain data: {type(result)}"
            return pickle.loads(pickle.dumps(result))

        return call


class InProcessPlacement:
    """A registry placement that puts each model behind a StandIn, and records where it asked them to run."""

    def __init__(self) -> None:
        self.models: dict[str, StandIn] = {}
        self.asked: list[tuple[str, bool]] = []

    def __call__(self, key, loader, gpu):
        self.asked.append((key, gpu))
        if key not in self.models:
            self.models[key] = StandIn(ModelHolder(key), loader)
        return self.models[key]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import torch

    from tests.engines.music.tiny_musicgen import build_tiny_musicgen
    from tests.engines.voice.test_bark import _build_tiny_bark

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only spin (see tests/engines/voice/test_bark.py)
    root = tmp_path_factory.mktemp("standin") / "models"
    _build_tiny_bark(root / "bark")
    build_tiny_musicgen(root / "musicgen-small")
    yield root
    torch.set_num_threads(threads)


@pytest.fixture
def held(settings, tiny_models):
    """(settings with the tiny models, a registry whose shareable models are behind stand-ins, its placement)."""
    registry = ModelRegistry()
    registry.placement = InProcessPlacement()
    return replace(settings, models_dir=tiny_models, device="cpu"), registry, registry.placement


def test_bark_speaks_the_same_through_plain_data(held):
    from engines.voice.backends.bark import BarkBackend
    from engines.voice.backends.base import SpeechRequest

    settings, registry, placement = held
    here = BarkBackend(max_semantic_tokens=8, seed=2)
    held_bark = BarkBackend(max_semantic_tokens=8, seed=2)
    held_bark.registry = registry
    request = SpeechRequest("hello world, this is a test.", language="de")
    expected = here.synthesize(request, settings)
    try:
        got = held_bark.synthesize(request, settings)
    finally:
        here.unload(settings)
    np.testing.assert_array_equal(got.samples, expected.samples)
    assert got.sample_rate == expected.sample_rate == 24_000
    (key, gpu), = set(placement.asked)
    assert key == here.model_key(settings) and gpu is False
    stand_in = placement.models[key]
    assert set(stand_in._methods) == {"voice_presets", "count_tokens", "speak"}
    assert (stand_in.sample_rate, stand_in.device) == (24_000, "cpu") and "model" not in vars(stand_in)
    with pytest.raises(InputError, match="too long"):  # a check on the held model's answers still holds
        held_bark.synthesize(SpeechRequest("hello " * 300), settings)


def test_musicgen_composes_the_same_through_plain_data_with_progress_and_cancel(held):
    from engines.music.backends.musicgen import MusicGenBackend

    settings, registry, placement = held
    here, held_mg = MusicGenBackend(max_window_s=1.0, context_s=0.4), MusicGenBackend(max_window_s=1.0, context_s=0.4)
    held_mg.registry = registry
    expected = here.generate("calm piano", 1.5, seed=4, settings=settings)
    here.unload(settings)
    reports: list[tuple] = []
    got = held_mg.generate("calm piano", 1.5, seed=4, settings=settings,
                           progress=lambda d, t, m="": reports.append((d, t, m)))
    np.testing.assert_array_equal(got.samples, expected.samples)  # two windows, crossfaded, seed for seed
    done = [d for d, _, _ in reports]
    assert done == sorted(done) and reports[-1][2] == "music generated" and reports[-1][0] == reports[-1][1]
    assert any("part 2 of 2" in m for _, _, m in reports)

    token = CancelToken()

    def progress(d, t, m=""):
        if d >= 10:
            token.cancel()

    with pytest.raises(Cancelled):
        held_mg.generate("calm piano", 20.0, settings=settings, progress=progress, cancel=token)
    stand_in = placement.models[held_mg.model_key(settings)]
    assert stand_in._holder._busy == 0  # nothing runs in the holder any more
    assert set(stand_in._methods) == {"count_tokens", "compose"}


class Counter:
    """A model for the holder's own tests: counts, reporting progress and checking its cancel token."""

    def __init__(self) -> None:
        self.name = "counter"

    def count(self, n: int, progress=no_progress, cancel=None) -> int:
        for i in range(n):
            if cancel is not None:
                cancel.raise_if_set()
            progress(i + 1, n, "counting")
            time.sleep(0.0005)
        return n

    def refuse(self) -> None:
        raise InputError("no")


def test_a_streamed_call_sends_the_newest_progress_then_its_result():
    holder = ModelHolder("counter")
    assert holder.ensure(Counter) == {"name": "counter"}  # plain public attributes, for the stand-in
    holder._cancelled = lambda: False
    items = list(holder.stream("count", (400,), {}, ("progress", "cancel")))
    assert items[-1] == ("result", 400) and items[-2] == ("progress", (400, 400, "counting"))
    done = [v[0] for k, v in items[:-1]]
    assert done == sorted(done) and len(items) <= 401  # reports that waited together go as one
    with pytest.raises(InputError, match="no"):
        list(holder.stream("refuse", (), {}, ()))
    assert holder.calls == 2 and holder.loads == 1


def test_a_cancelled_call_stops_the_model_and_frees_the_holder():
    holder = ModelHolder("counter")
    holder.ensure(Counter)
    asked = [0]

    def cancelled() -> bool:  # what ray.get_runtime_context().is_canceled() says once the caller cancels
        asked[0] += 1
        return asked[0] > 2

    holder._cancelled = cancelled
    t0 = time.perf_counter()
    with pytest.raises(Cancelled):
        list(holder.stream("count", (10**7,), {}, ("progress", "cancel")))
    assert time.perf_counter() - t0 < 5 and holder._busy == 0


def test_a_stream_closed_early_stops_the_model_before_the_holder_takes_another_call():
    holder = ModelHolder("counter")
    holder.ensure(Counter)
    holder._cancelled = lambda: False
    stream = holder.stream("count", (10**7,), {}, ("progress", "cancel"))
    assert next(stream)[0] == "progress"
    stream.close()  # what Ray does to the generator of an actor task it cancels
    assert holder._busy == 0 and holder.call("count", (2,), {}) == 2


def test_a_holder_used_lately_or_without_an_idle_time_stays():
    holder = ModelHolder("counter")  # idle_s 0: no watch, never leaves
    holder.ensure(Counter)
    assert holder.retire() is False
    holder.idle_s = 60.0
    assert holder.retire() is False  # used a moment ago
    assert holder.call("count", (3,), {}) == 3
    holder.model.count = lambda n: holder.idle_for()
    assert holder.call("count", (1,), {}) == 0.0  # a running call keeps it busy, never idle


def test_models_go_on_a_gpu_when_the_cluster_has_one_and_their_actor_holds_it(settings, monkeypatch):
    placement = ModelPlacement(replace(settings, ray_model_gpus=0.5, ray_model_cpus=2.0))
    monkeypatch.setattr(placement, "cluster_gpus", lambda: 1.0)
    assert placement.device("auto") == placement.device(None) == "cuda"
    assert placement.device("cpu") == "cpu" and placement.device("cuda:1") == "cuda:1"
    monkeypatch.setattr(placement, "cluster_gpus", lambda: 0.0)
    assert placement.device("auto") == "cpu"
    assert placement.resources(True) == {"num_gpus": 0.5, "num_cpus": 0}
    assert placement.resources(False) == {"num_cpus": 2.0}


def test_a_shareable_backend_asks_the_placement_and_runs_where_it_says(settings):
    from engines.backend import Backend

    class Loaded:
        def __init__(self, device: str) -> None:
            self.device = device

    class Held(Backend):
        kind, name, tier, shareable = "test", "held", "neural", True

        def load_model(self, folder, device):
            return Loaded(device)

    class Kept(Held):
        name, shareable = "kept", False

    class GPUPlacement(InProcessPlacement):
        def device(self, explicit):
            return "cuda" if explicit == "auto" else explicit

    registry = ModelRegistry()
    registry.placement = GPUPlacement()
    held, kept = Held(), Kept()
    held.registry = kept.registry = registry
    settings = replace(settings, device="auto")
    assert held.load(settings).device == "cuda"  # the cluster has a GPU: loaded there, in a GPU actor
    assert registry.placement.asked == [("test:held:-:cuda", True)] and not registry.is_loaded("test:held:-:cuda")
    assert held.load(replace(settings, device="cpu")).device == "cpu"
    assert registry.placement.asked[-1] == ("test:held:-:cpu", False)
    assert kept.load(replace(settings, device="cpu")).device == "cpu"  # not shareable: loaded here
    assert registry.is_loaded("test:kept:-:cpu") and len(registry.placement.asked) == 2
