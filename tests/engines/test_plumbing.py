"""Engine plumbing: the device picker, the model registry and the capabilities report."""

from __future__ import annotations

import threading
import time

import pytest

from core.errors import BackendUnavailable
from engines import capabilities
from engines.device import describe_device, pick_device, torch_installed
from engines.registry import ModelRegistry


def test_device_picker_prefers_explicit_then_best_available():
    assert pick_device("cpu") == "cpu"
    assert pick_device("auto") in ("cpu", "cuda", "mps")
    if not torch_installed():
        assert pick_device("auto") == "cpu"
        with pytest.raises(BackendUnavailable, match="PyTorch"):
            pick_device("cuda")
    else:
        import torch

        if not torch.cuda.is_available():
            with pytest.raises(BackendUnavailable, match="no CUDA GPU"):
                pick_device("cuda:1")
    assert describe_device("auto")["device"] == pick_device("auto")


def test_registry_loads_once_even_under_concurrency():
    calls = []

    def loader():
        calls.append(1)
        time.sleep(0.05)
        return {"weights": [1, 2, 3]}

    reg = ModelRegistry()
    results = []
    threads = [threading.Thread(target=lambda: results.append(reg.get("tiny", loader))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert all(r is results[0] for r in results)
    assert [e["key"] for e in reg.loaded()] == ["tiny"]


def test_registry_unload_and_idle_drop():
    now = [0.0]
    closed = []

    class Model:
        def close(self):
            closed.append(True)

    reg = ModelRegistry(idle_seconds=60, clock=lambda: now[0])
    reg.get("a", Model)
    reg.get("b", Model)
    now[0] = 50
    reg.get("b", Model)  # b is used again
    now[0] = 100
    assert reg.drop_idle() == ["a"]
    assert not reg.is_loaded("a") and reg.is_loaded("b") and closed == [True]
    assert reg.unload("b") and not reg.unload("b")
    loads = []
    reg.get("a", lambda: loads.append(1) or Model())
    assert loads == [1], "an unloaded model loads again on next use"


def test_registry_failed_load_is_not_cached():
    reg = ModelRegistry()

    def broken():
        raise BackendUnavailable("weights for tiny-bark not found in models/ or the Hugging Face cache")

    with pytest.raises(BackendUnavailable, match="not found"):
        reg.get("bark", broken)
    assert not reg.is_loaded("bark")
    assert reg.get("bark", lambda: "ok") == "ok"


def test_capabilities_report_says_why_not(settings):
    from engines.backend import Backend, Backends

    class NoWeights(Backend):
        kind, name, tier, licence, model = "test_engine", "tiny", "neural", "MIT", "tiny/model"
        local_dirs, weight_files = ("tiny",), ("weights.bin",)

    class Broken(Backend):
        kind, name, tier = "test_engine", "broken", "embedded"

        def availability(self, settings):
            raise RuntimeError("the check itself failed")

    rep = capabilities.report(settings, Backends([NoWeights(), Broken()]))
    tiny, broken = rep["engines"]["test_engine"]
    assert tiny["available"] is False and "tiny weights not found" in tiny["reason"]
    assert str(settings.models_dir / "tiny") in tiny["reason"] and "weights.bin" in tiny["reason"]
    assert (tiny["backend"], tiny["tier"], tiny["model"], tiny["licence"]) == ("tiny", "neural", "tiny/model", "MIT")
    assert broken["available"] is False and "the check itself failed" in broken["reason"]  # the report survives
    assert rep["llm"]["available"] is False and "OPENAI_API_KEY" in rep["llm"]["reason"]
    assert set(rep["tools"]) >= {"ffmpeg", "ffprobe", "espeak-ng", "soundfont"}


def test_tab_helpers_turn_engine_errors_into_messages_and_progress_into_a_bar():
    import gradio as gr

    from core.errors import InputError
    from tabs.common import gradio_progress, user_errors

    @user_errors
    def refuses():
        raise InputError("the text is empty; type up to 5000 characters")

    @user_errors
    def crashes():
        raise KeyError("internal detail")

    with pytest.raises(gr.Error, match="the text is empty"):
        refuses()
    with pytest.raises(gr.Error) as e:
        crashes()
    assert "internal detail" not in str(e.value) and "logged" in str(e.value)

    calls = []
    report = gradio_progress(lambda frac, desc=None: calls.append((frac, desc)))
    report(3, 4, "sentence 3 of 4")
    report(0, 0)
    assert calls == [(0.75, "sentence 3 of 4"), (0.0, None)]


def test_housekeeping_drops_idle_models(services):
    import time as _time

    services.models.idle_seconds = 0.05
    services.models.get("tiny", lambda: object())
    thread = services.start_housekeeping(every_s=0.02)
    deadline = _time.monotonic() + 60  # a guard against hanging, not a speed bound
    while services.models.is_loaded("tiny") and _time.monotonic() < deadline:
        _time.sleep(0.02)
    services.stop()
    thread.join(2)
    assert not services.models.is_loaded("tiny") and not thread.is_alive()
