"""Adding a model is one file and one line: a talking-head backend defined here, and registered with
one line, shows in the capabilities report, is chosen by name, records its model and licence in the
generation, and is unloaded by the model registry when idle. Nothing outside this file knows it."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
import soundfile as sf

from core.errors import BackendUnavailable
from engines.backend import Availability
from engines.talking_head.backends import EmbeddedBackend, TalkingHeadBackend
from engines.talking_head.types import TalkingHeadResult
from settings import Settings


class Steady:
    """The loaded model: render settings read from the weights folder; closed when unloaded."""

    def __init__(self, folder: Path) -> None:
        self.options = json.loads((folder / "steady.json").read_text(encoding="utf-8"))
        self.closed = False

    def close(self) -> None:
        self.closed = True


class SteadyHead(TalkingHeadBackend):
    """A talking-head model that holds the head still and speaks with more expression; it renders
    its frames through the embedded engine with the settings its weights hold."""

    name = "steady"
    tier = "neural"
    licence = "MIT (the licence of the model this backend was written for)"
    model = "studio-tests/steady-head"
    local_dirs = ("steady-head",)
    weight_files = ("config.json", "steady.json")

    def load_model(self, folder: Path, device: str) -> Steady:
        return Steady(folder)

    def availability(self, settings) -> Availability:
        found = super().availability(settings)
        embedded = EmbeddedBackend().availability(settings)
        return found if not found.available or embedded.available else embedded

    def render(self, request, settings, progress=None, cancel=None) -> TalkingHeadResult:
        model: Steady = self.load(settings)
        return EmbeddedBackend().render(replace(request, **model.options), settings, progress, cancel)


def _install_weights(models_dir: Path) -> Path:
    folder = models_dir / "steady-head"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"_name_or_path": "studio-tests/steady-head"}))
    (folder / "steady.json").write_text(json.dumps({"still": True, "expression": 1.6}))
    (folder / "README.md").write_text("---\nlicense: cc0-1.0\n---\n# Steady head\n")
    return folder


@pytest.fixture
def app(tmp_path):
    from engines.registry import MODELS
    from services import build_services

    settings = Settings(data_dir=tmp_path / "data", models_dir=tmp_path / "models", device="cpu",
                        database_url=f"sqlite:///{tmp_path / 'studio.db'}")
    idle = MODELS.idle_seconds
    svc = build_services(settings)
    yield svc
    svc.stop()
    svc.library.engine.dispose()
    MODELS.idle_seconds = idle


def _row(report: dict, name: str) -> dict:
    return next(r for r in report["engines"]["talking_head"] if r["backend"] == name)


def _duration_s(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return float(json.loads(out)["format"]["duration"])


def test_a_backend_added_with_one_line(app, samples, tmp_path):
    pytest.importorskip("mediapipe")
    steady = app.backends.add(SteadyHead(), before="embedded")  # the one registration line

    missing = _row(app.capabilities(), "steady")
    assert missing["available"] is False and "steady weights not found" in missing["reason"]
    assert str(tmp_path / "models" / "steady-head") in missing["reason"]
    with pytest.raises(BackendUnavailable, match="steady weights not found"):
        app.talking_heads.render((samples / "portraits" / "art_1.png", "art_1.png"), None, "Hello.",
                                 backend="steady", likeness_consent=True)
    assert app.library.list_generations(app.library.project_or_default(None).id) == []

    folder = _install_weights(tmp_path / "models")
    row = _row(app.capabilities(), "steady")
    assert row["available"] is True and str(folder) in row["reason"]
    assert (row["tier"], row["model"], row["licence"]) == ("neural", "studio-tests/steady-head", "cc0-1.0")

    src = sorted((samples / "voices" / "librispeech-1998").glob("*.flac"))[0]
    y, rate = sf.read(str(src))
    wav = tmp_path / "speech.wav"
    sf.write(wav, y[: int(2.0 * rate)], rate)
    done = app.talking_heads.render((samples / "portraits" / "art_1.png", "art_1.png"), (wav, wav.name),
                                    size=256, backend="steady", likeness_consent=True)
    g = done.generation
    assert g.status.value == "succeeded" and g.params["backend"] == "steady"
    assert (g.backend, g.model, g.model_licence) == ("steady", "studio-tests/steady-head", "cc0-1.0")
    (video,) = [a for a in done.outputs if a.kind.value == "video"]
    assert _duration_s(app.library.asset_path(video)) == pytest.approx(2.0, abs=1 / 25 + 0.03)
    assert g.metrics["frames"] == 50

    model: Steady = steady.load(app.settings)
    key = steady.model_key(app.settings)
    assert key in [m["key"] for m in app.models.loaded()] and not model.closed

    app.models.idle_seconds = 0.3
    app.start_housekeeping(every_s=0.05)
    deadline = time.monotonic() + 10
    while steady.is_loaded(app.settings) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not steady.is_loaded(app.settings) and model.closed
    assert key not in [m["key"] for m in app.models.loaded()]
