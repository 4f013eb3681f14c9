"""Talking-head backends behind one interface: the embedded warp engine, and the seam for neural
SadTalker-class models (local weights only), with the embedded engine as the fallback.

`backend="auto"` takes the first available of AUTO_ORDER. A neural backend whose weights are
missing says so in its availability and is skipped; nothing is ever downloaded.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from abc import ABC, abstractmethod
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.errors import BackendUnavailable, InputError
from core.progress import CancelToken, ProgressFn
from engines.capabilities import Availability, BackendInfo, register
from engines.registry import MODELS
from engines.talking_head.types import TalkingHeadRequest, TalkingHeadResult

log = logging.getLogger(__name__)


class TalkingHeadBackend(ABC):
    # Short stable name used in the API: "embedded", "sadtalker".
    name: str
    # "embedded" (CPU, nothing downloaded) or "neural" (local weights).
    tier: str
    # Licence of the model or code, stored with each generation.
    licence: str

    @abstractmethod
    def availability(self, settings) -> Availability:  # noqa: ANN001  (settings.Settings or None)
        """Cheap check (no model load): can this backend run here, and if not, why not."""

    @abstractmethod
    def render(self, request: TalkingHeadRequest, settings, progress: ProgressFn | None = None,  # noqa: ANN001
               cancel: CancelToken | None = None) -> TalkingHeadResult:
        """Render the video. Raises InputError for bad input, BackendUnavailable when it cannot run."""


class EmbeddedBackend(TalkingHeadBackend):
    """MediaPipe FaceMesh landmarks + warping of the photo (engines.talking_head.render)."""

    name = "embedded"
    tier = "embedded"
    licence = "Apache-2.0 (MediaPipe FaceMesh model), Apache-2.0 (OpenCV)"

    def availability(self, settings=None) -> Availability:  # noqa: ANN001
        missing = [m for m in ("cv2", "mediapipe") if importlib.util.find_spec(m) is None]
        if missing:
            return Availability(False, f"{', '.join(missing)} not installed (pip install -r requirements-talking-head.txt)")
        if not shutil.which("ffmpeg"):
            return Availability(False, "ffmpeg is not installed (Debian package ffmpeg)")
        return Availability(True, "MediaPipe FaceMesh landmarks and a warp of the photo, on the CPU")

    def render(self, request, settings=None, progress=None, cancel=None) -> TalkingHeadResult:  # noqa: ANN001
        from engines.talking_head.render import render

        if settings is not None:
            request = replace(request, max_image_pixels=min(request.max_image_pixels, settings.max_image_pixels))
        return render(request, progress, cancel)


# ----------------------------------------------------------------------------- neural seam


def _hub_file(repo: str, filename: str) -> Path | None:
    """`filename` of `repo` in the local Hugging Face cache, or None. Never touches the network."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(repo, filename)
    except Exception:  # a damaged cache must not break the capabilities report
        log.debug("looking up %s/%s in the Hugging Face cache failed", repo, filename, exc_info=True)
        return None
    return Path(found) if isinstance(found, str) else None


class NeuralBackend(TalkingHeadBackend):
    """A talking-head model that runs from local weights (SadTalker-class: audio -> 3D motion
    coefficients -> a face renderer). Subclasses say where the weights live and implement `load`
    and `animate`; locating weights, availability and loading through the registry are shared."""

    tier = "neural"
    # Folders searched under settings.models_dir, in order.
    local_dirs: tuple[str, ...] = ()
    # Hugging Face repositories searched in the local cache.
    hub_repos: tuple[str, ...] = ()
    # Files that must all be present for the weights to count as installed.
    required_files: tuple[str, ...] = ()

    def locate(self, settings) -> Path | None:  # noqa: ANN001
        """The folder holding every required file, or None. Cheap: nothing is loaded or downloaded."""
        models_dir = Path(getattr(settings, "models_dir", "models"))
        for d in self.local_dirs:
            folder = models_dir / d
            if all((folder / f).is_file() for f in self.required_files):
                return folder
        for repo in self.hub_repos:
            found = [_hub_file(repo, f) for f in self.required_files]
            if found and all(found) and len({p.parent for p in found}) == 1:
                return found[0].parent
        return None

    def missing_message(self, settings) -> str:  # noqa: ANN001
        models_dir = Path(getattr(settings, "models_dir", "models"))
        where = models_dir / self.local_dirs[0] if self.local_dirs else models_dir
        hub = f" or the Hugging Face cache ({', '.join(self.hub_repos)})" if self.hub_repos else ""
        return (f"{self.name} weights not found: put {', '.join(self.required_files)} in {where}{hub}; "
                "the embedded engine is used meanwhile")

    def availability(self, settings) -> Availability:  # noqa: ANN001
        if importlib.util.find_spec("torch") is None:
            return Availability(False, "torch is not installed (pip install -r requirements.txt)")
        folder = self.locate(settings)
        if folder is None:
            return Availability(False, self.missing_message(settings))
        return Availability(True, f"weights in {folder}")

    def render(self, request, settings, progress=None, cancel=None) -> TalkingHeadResult:  # noqa: ANN001
        folder = self.locate(settings)
        if folder is None:
            raise BackendUnavailable(self.missing_message(settings))
        from engines.device import pick_device

        device = pick_device(getattr(settings, "device", "auto"))
        model = MODELS.get(f"talking_head:{self.name}:{folder}", lambda: self.load(folder, device))
        return self.animate(model, request, progress, cancel)

    @abstractmethod
    def load(self, folder: Path, device: str) -> Any:
        """Load the model from `folder` onto `device` (called once, through the model registry)."""

    @abstractmethod
    def animate(self, model: Any, request: TalkingHeadRequest, progress: ProgressFn | None,
                cancel: CancelToken | None) -> TalkingHeadResult:
        """Render the video with a loaded model."""


class SadTalkerBackend(NeuralBackend):
    """SadTalker (Apache-2.0). The seam only: weights are located and reported; inference is not
    part of this build, so even with weights present it reports itself unavailable."""

    name = "sadtalker"
    licence = "Apache-2.0 (SadTalker)"
    local_dirs = ("sadtalker", "SadTalker/checkpoints")
    hub_repos = ("vinthony/SadTalker",)
    required_files = ("SadTalker_V0.0.2_256.safetensors", "mapping_00229-model.pth.tar")
    implemented = False

    def availability(self, settings) -> Availability:  # noqa: ANN001
        found = super().availability(settings)
        if found.available and not self.implemented:
            return Availability(False, f"SadTalker weights found ({found.reason}), but this build has no SadTalker "
                                       "inference yet: the embedded engine is used")
        return found

    def load(self, folder: Path, device: str) -> Any:
        raise BackendUnavailable("SadTalker inference is not part of this build yet: use the embedded engine")

    def animate(self, model, request, progress, cancel) -> TalkingHeadResult:  # noqa: ANN001
        raise BackendUnavailable("SadTalker inference is not part of this build yet: use the embedded engine")


# ----------------------------------------------------------------------------- selection

_CLASSES: dict[str, type[TalkingHeadBackend]] = {"embedded": EmbeddedBackend, "sadtalker": SadTalkerBackend}
# Tried in this order by backend="auto"; the embedded engine always comes last, as the fallback.
AUTO_ORDER = ["sadtalker", "embedded"]
_instances: dict[str, TalkingHeadBackend] = {}


def names() -> list[str]:
    return list(_CLASSES)


def add(backend_cls: type[TalkingHeadBackend], first: bool = True) -> None:
    """Plug in another backend (a neural model, or a test double); `first` puts it before the others in auto."""
    _CLASSES[backend_cls.name] = backend_cls
    _instances.pop(backend_cls.name, None)
    if backend_cls.name not in AUTO_ORDER:
        AUTO_ORDER.insert(0 if first else len(AUTO_ORDER) - 1, backend_cls.name)


def remove(name: str) -> None:
    if name == "embedded":
        raise ValueError("the embedded backend is the fallback and cannot be removed")
    _CLASSES.pop(name, None)
    _instances.pop(name, None)
    if name in AUTO_ORDER:
        AUTO_ORDER.remove(name)


def get(name: str) -> TalkingHeadBackend:
    key = (name or "").strip().lower()
    if key not in _CLASSES:
        raise InputError(f"unknown talking-head backend {name!r}; choose auto, {', '.join(_CLASSES)}")
    if key not in _instances:
        _instances[key] = _CLASSES[key]()
    return _instances[key]


def render_talking_head(request: TalkingHeadRequest, settings=None, backend: str = "auto",  # noqa: ANN001
                        progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> TalkingHeadResult:
    """Render with `backend` ("auto" = the first available neural backend, else the embedded engine).

    A named backend that cannot run raises BackendUnavailable; under "auto" a neural backend that
    fails to load falls back to the embedded engine and the result's notes say so."""
    choice = (backend or "auto").strip().lower()
    if choice != "auto":
        b = get(choice)
        a = b.availability(settings)
        if not a.available:
            raise BackendUnavailable(f"talking-head backend {b.name!r} is unavailable: {a.reason}")
        return b.render(request, settings, progress, cancel)
    fallback_notes: list[str] = []
    for name in AUTO_ORDER:
        b = get(name)
        if b.name == "embedded":
            break
        if not b.availability(settings).available:
            continue
        try:
            return b.render(request, settings, progress, cancel)
        except BackendUnavailable as e:
            log.warning("talking-head backend %s failed, falling back: %s", b.name, e)
            fallback_notes.append(f"{b.name} could not run ({e}): the embedded engine was used")
    result = get("embedded").render(request, settings, progress, cancel)
    result.notes[:0] = fallback_notes
    return result


def _check(name: str):  # noqa: ANN202
    return lambda settings: get(name).availability(settings)


def register_all() -> None:
    """Register every backend's capability check (cheap: nothing is imported or loaded)."""
    for name, cls in _CLASSES.items():
        register(BackendInfo("talking_head", name, cls.tier, cls.licence, _check(name)))


register_all()
