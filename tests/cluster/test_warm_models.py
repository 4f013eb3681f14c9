"""Neural models in warm actors on a real local cluster (a head and a worker node), with the tiny random-weight
Bark and MusicGen of the engine tests: a MusicGen song job through the Ray executor loads the model once for
two jobs, its progress comes back from the actor and a cancelled job stops the model's work there; Bark in an
actor gives the same speech as in the process; an actor unused for its idle time leaves, giving its CPU back,
and the next call loads the model again in a new one."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("torch")
pytest.importorskip("transformers")

from core.errors import Cancelled
from core.progress import CancelToken
from engines.music.backends.musicgen import MusicGenBackend
from engines.registry import MODELS
from engines.voice.backends.bark import BarkBackend
from engines.voice.backends.base import SpeechRequest

# What a warm actor holds here: half a CPU, so the actors of the other tests and a job still fit on the node.
MODEL_CPUS = 0.5


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> Path:
    from tests.engines.music.tiny_musicgen import build_tiny_musicgen
    from tests.engines.voice.test_bark import _build_tiny_bark

    root = tmp_path_factory.mktemp("warm") / "models"
    _build_tiny_bark(root / "bark")
    build_tiny_musicgen(root / "musicgen-small")
    return root


@pytest.fixture(scope="module")
def ray_services(ray_cluster, tiny_models, tmp_path_factory):
    """The app's services in this process with EXECUTOR=ray (jobs run on the worker node), the tiny models in
    MODELS_DIR; the process's model registry is given back its own placement afterwards."""
    from services import build_services
    from settings import Settings
    from tests.conftest import TEST_VOICE_CONSENT

    before = MODELS.placement
    data = tmp_path_factory.mktemp("warm-app") / "data"
    settings = Settings(data_dir=data, models_dir=tiny_models, voice_consent=TEST_VOICE_CONSENT, device="cpu",
                        executor="ray", ray_address=ray_cluster.address, ray_model_cpus=MODEL_CPUS)
    svc = build_services(settings)
    svc.jobs.executor.connect()  # joins the cluster; this process's models go to the warm actors too
    yield svc
    MODELS.placement = before
    svc.library.engine.dispose()


def _stats(key: str) -> dict | None:
    from cluster.models import actor_stats

    return actor_stats(key)


def test_a_musicgen_song_on_ray_loads_the_model_once_in_its_actor(ray_services):
    svc = ray_services
    songs = []
    for seed in (1, 2):
        done, _ = svc.music.compose("a lighthouse keeper", title="Keeper", duration_s=10, seed=seed,
                                    backend="musicgen")
        assert done.generation.status.value == "succeeded" and done.generation.backend == "musicgen", \
            done.generation.metrics
        (mix,) = [a for a in done.outputs if a.ext == ".wav" and not a.meta.get("stem")]
        songs.append(sf.info(svc.library.asset_path(mix)))
    assert all(abs(s.duration - 10) <= 1 for s in songs)

    key = MusicGenBackend().model_key(svc.settings)
    assert key.endswith(":cpu")
    stats = _stats(key)
    # Loaded once for both jobs; each job asked it to count the prompt's tokens and to compose.
    assert stats["loads"] == 1 and stats["calls"] >= 4, stats
    warm = {m["key"]: m for m in svc.capabilities()["warm_models"]}
    assert warm[key]["loads"] == 1
    # The jobs ran on the worker node (the head takes no work), and so does the model's actor.
    import ray

    worker_nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) > 0}
    assert stats["node_id"] in worker_nodes


def test_progress_comes_back_from_the_actor_and_a_cancel_stops_its_work(ray_services):
    """Called from here (as the web process would): the model's progress per decoder step reaches the
    callback; a cancel mid-piece stops the generation in the actor, which is free again at once."""
    settings = ray_services.settings
    backend = MusicGenBackend()
    seen: list[tuple] = []
    audio = backend.generate("calm piano", 1.0, seed=3, settings=settings,
                             progress=lambda d, t, m="": seen.append((d, t, m)))
    assert len(audio.samples) == 32_000 and audio.sample_rate == 32_000
    done = [d for d, _, _ in seen]
    assert done == sorted(done) and seen[-1] == (53, 53, "music generated") and len(seen) >= 5
    assert _stats(backend.model_key(settings))["calls"] >= 2  # computed in the actor, not here

    token, steps = CancelToken(), []

    def progress(d, t, m=""):
        steps.append(d)
        if d >= 20:
            token.cancel()

    with pytest.raises(Cancelled):
        backend.generate("calm piano", 300.0, settings=settings, progress=progress, cancel=token)
    assert 20 <= max(steps) < 15_003  # stopped well before the piece's 15 003 steps
    _free_soon(backend.model_key(settings))


def _free_soon(key: str, within_s: float = 3.0) -> None:
    """The actor runs no call within `within_s` (a 300 s piece takes the tiny model minutes)."""
    deadline = time.monotonic() + within_s
    while _stats(key)["busy"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _stats(key)["busy"] == 0, "the actor is still composing the cancelled piece"


def test_cancelling_a_job_stops_the_models_work_in_its_actor(ray_services):
    svc = ray_services
    token = CancelToken()
    messages: list[str] = []

    def progress(d, t, m=""):
        messages.append(m)
        if "MusicGen" in m:
            token.cancel()

    failed: list[BaseException] = []
    job = threading.Thread(target=lambda: _catch(failed, lambda: svc.music.compose(
        "a long voyage", title="Voyage", duration_s=300, backend="musicgen", progress=progress, cancel=token)))
    job.start()
    job.join(90)
    assert not job.is_alive() and isinstance(failed[0], Cancelled), (failed, messages[-3:])
    _free_soon(MusicGenBackend().model_key(svc.settings))


def _catch(into: list, fn) -> None:
    try:
        fn()
    except BaseException as e:  # the test looks at what the job raised
        into.append(e)


def test_an_idle_actor_leaves_and_the_next_call_loads_again(ray_services, tiny_models):
    """Bark with an idle time of 1.5 s: two calls, one load, the same speech as in this process; then the actor
    leaves (its CPU goes back to the cluster) and the next call starts a new one, which loads Bark again."""
    import ray

    from cluster.models import ModelPlacement

    settings = replace(ray_services.settings, ray_model_idle_s=1.5)
    request = SpeechRequest("hello world, this is a test.")
    backend = BarkBackend(max_semantic_tokens=8, seed=1)
    MODELS.placement = None
    here = backend.synthesize(request, settings)
    key = backend.model_key(settings)
    assert backend.unload(settings)

    MODELS.placement = ModelPlacement(settings)
    first = backend.synthesize(request, settings)
    again = backend.synthesize(request, settings)
    stats = _stats(key)
    assert stats["loads"] == 1 and stats["calls"] >= 4 and stats["idle_limit_s"] == 1.5, stats
    np.testing.assert_array_equal(first.samples, here.samples)  # the actor's Bark is the same Bark
    np.testing.assert_array_equal(again.samples, here.samples)
    held = ray.available_resources().get("CPU", 0)

    deadline = time.monotonic() + 30
    while _stats(key) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _stats(key) is None, "the idle actor did not leave"
    while ray.available_resources().get("CPU", 0) < held + MODEL_CPUS and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU", 0) >= held + MODEL_CPUS  # its CPU went back

    after = backend.synthesize(request, settings)
    renewed = _stats(key)
    assert renewed["loads"] == 1 and renewed["pid"] != stats["pid"] and renewed["started"] > stats["started"]
    np.testing.assert_array_equal(after.samples, here.samples)
