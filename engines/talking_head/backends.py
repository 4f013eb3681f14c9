"""Talking-head backends: what one adds to the backend contract, the embedded warp engine, and
the choice among those the catalogue offers.

`backend="auto"` takes the first available in the catalogue's order, the embedded engine last; a
neural backend whose weights are missing says so in its availability and is skipped, and one that
fails to load under "auto" falls back to the embedded engine with a note. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from abc import abstractmethod
from dataclasses import replace

from core.errors import BackendUnavailable
from core.progress import CancelToken, ProgressFn
from engines.backend import Availability, Backend, Backends
from engines.talking_head.types import TalkingHeadRequest, TalkingHeadResult

log = logging.getLogger(__name__)


class TalkingHeadBackend(Backend):
    """A portrait and speech in, a video of the face speaking out. A neural one sets its weights
    (`local_dirs`, `hub_repos`, `weight_files`), implements `load_model`, and in `render` gets its
    model with `self.load(settings)`, through the model registry. If `render` uses that model only
    through methods taking and returning plain data (frames as numpy arrays, audio samples, numbers),
    it sets `shareable = True`, and under the Ray executor the model lives in a warm actor."""

    kind = "talking_head"

    @abstractmethod
    def render(self, request: TalkingHeadRequest, settings, progress: ProgressFn | None = None,
               cancel: CancelToken | None = None) -> TalkingHeadResult:
        """Render the video. Raises InputError for bad input, BackendUnavailable when it cannot run."""


class EmbeddedBackend(TalkingHeadBackend):
    """MediaPipe FaceMesh landmarks + warping of the photo (engines.talking_head.render)."""

    name = "embedded"
    tier = "embedded"
    licence = "Apache-2.0 (MediaPipe FaceMesh model), Apache-2.0 (OpenCV)"
    model = "MediaPipe FaceMesh + warping"

    def availability(self, settings=None) -> Availability:
        missing = [m for m in ("cv2", "mediapipe") if importlib.util.find_spec(m) is None]
        if missing:
            return Availability(False, f"{', '.join(missing)} not installed "
                                       "(pip install -r requirements-talking-head.txt)")
        if not shutil.which("ffmpeg"):
            return Availability(False, "ffmpeg is not installed (Debian package ffmpeg)")
        return Availability(True, "MediaPipe FaceMesh landmarks and a warp of the photo, on the CPU")

    def render(self, request, settings=None, progress=None, cancel=None) -> TalkingHeadResult:
        return render_talking_head(request, settings, progress, cancel)


def render_talking_head(request: TalkingHeadRequest, settings=None, progress: ProgressFn | None = None,
                        cancel: CancelToken | None = None) -> TalkingHeadResult:
    """Render with the embedded engine (nothing to choose, nothing downloaded)."""
    from engines.talking_head.render import render

    if settings is not None:
        request = replace(request, max_image_pixels=min(request.max_image_pixels, settings.max_image_pixels))
    return render(request, progress, cancel)


def render_with(backends: Backends, request: TalkingHeadRequest, settings, backend: str = "auto",
                progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> TalkingHeadResult:
    """Render with the talking-head backend called `backend` of the catalogue ("auto" = the first
    available, the embedded engine last). The result says which backend made it, with the model
    and licence that backend reports.

    A named backend that cannot run raises BackendUnavailable; under "auto" one that fails to load
    falls back to the embedded engine and the result's notes say so."""
    choice = (backend or "auto").strip().lower()
    if choice != "auto":
        b = backends.get("talking_head", choice)
        a = backends.availability("talking_head", choice, settings)
        if not a.available:
            raise BackendUnavailable(f"talking-head backend {b.name!r} is unavailable: {a.reason}")
        return _stamped(b.render(request, settings, progress, cancel), b, settings)
    notes: list[str] = []
    for b in backends.of("talking_head"):
        if b.name == "embedded" or not b.auto or not backends.availability("talking_head", b.name, settings).available:
            continue
        try:
            return _stamped(b.render(request, settings, progress, cancel), b, settings)
        except BackendUnavailable as e:
            log.warning("talking-head backend %s failed, falling back: %s", b.name, e)
            notes.append(f"{b.name} could not run ({e}): the embedded engine was used")
    embedded = backends.get("talking_head", "embedded")
    result = _stamped(embedded.render(request, settings, progress, cancel), embedded, settings)
    result.notes[:0] = notes
    return result


def _stamped(result: TalkingHeadResult, backend: Backend, settings) -> TalkingHeadResult:
    made_by = backend.provenance(settings)
    result.backend, result.model, result.licence = backend.name, made_by.model, made_by.licence
    return result
