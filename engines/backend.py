"""The one contract every backend of every engine kind keeps, and the catalogue that holds them.

A backend says what it is (kind, name, tier, licence, model id), whether it can run here and why
not, which device it runs on, and where its weights are; a neural one loads its model through the
one model registry (`engines.registry.MODELS`), so the registry can drop it when idle. One whose loaded
model is used only through a plain-data facade sets `shareable`: under the Ray executor that model lives
in a warm actor (cluster.models) instead of in every job's process. The kinds add what they make:
speech (`engines.voice.backends.base.SpeechBackend`), music (`engines.music.backends.MusicBackend`) and
talking heads (`engines.talking_head.backends`).

Nothing registers itself on import: `services.make_backends()` lists every backend the app offers
in a `Backends` catalogue, in the order `backend="auto"` tries them.
"""

from __future__ import annotations

import importlib.util
import logging
from abc import ABC
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from core.errors import BackendUnavailable, InputError
from engines.registry import MODELS, ModelRegistry
from engines.weights import Required, locate_weights, weights_card

log = logging.getLogger(__name__)

TIERS = ("embedded", "neural", "cloud")
# What messages call the work of a kind ("unknown speech backend").
KIND_WORDS = {"voice": "speech", "talking_head": "talking-head", "media_intake": "media intake"}


@dataclass(frozen=True)
class Availability:
    available: bool
    # Why not (missing weights, missing key, no GPU ...), or a note on what is used.
    reason: str = ""


@dataclass(frozen=True)
class Provenance:
    """What a generation records about the model that made it."""

    # The model id: a repository id ("facebook/musicgen-small"), a folder, or a service's model name.
    model: str
    # The licence of that model (or the service's terms).
    licence: str


class Backend(ABC):
    """One way to do an engine's work. Subclasses set the class attributes and implement what
    their kind adds; a neural backend also sets where its weights are and `load_model`."""

    # The engine kind it serves: "voice", "music", "talking_head", "text", "media_intake".
    kind: ClassVar[str]
    # Short stable name used in the API and the UI: "embedded", "bark", "musicgen" ...
    name: ClassVar[str]
    # What messages call it ("MusicGen"); "" = the name.
    title: ClassVar[str] = ""
    # "embedded" (CPU, nothing downloaded), "neural" (local weights) or "cloud" (a remote service).
    tier: ClassVar[str]
    # Licence of the model this backend was made for (weights that declare their own win).
    licence: ClassVar[str] = ""
    # Model id used when the weights found do not say which they are ("" when there is no model).
    model: str = ""
    # Whether backend="auto" may pick it (gTTS sends the text to Google: only when named).
    auto: ClassVar[bool] = True
    # Python modules it needs; a missing one makes it unavailable with that reason.
    requires: ClassVar[tuple[str, ...]] = ()
    # Neural backends: folders under MODELS_DIR (or absolute), searched in order ...
    local_dirs: tuple[str, ...] = ()
    # ... then Hugging Face repositories in the local cache (nothing is ever downloaded) ...
    hub_repos: tuple[str, ...] = ()
    # ... for a folder holding all of these files (a tuple = one of the alternatives).
    weight_files: tuple[Required, ...] = ()
    # The registry its model loads through (the process-wide one, which drops idle models).
    registry: ClassVar[ModelRegistry] = MODELS
    # Its loaded model is used only through methods whose arguments and results are plain data (str,
    # numbers, numpy arrays; `progress` and `cancel` keywords are relayed), so the registry may hold it
    # elsewhere: under the Ray executor, in a warm model actor (cluster.models) on a GPU node or a CPU node.
    shareable: ClassVar[bool] = False

    # ------------------------------------------------------------------ what it is, where it runs

    def weights(self, settings) -> Path | None:
        """The folder holding this backend's weights, or None (also when it needs none). Cheap."""
        if not self.weight_files:
            return None
        return locate_weights(settings, self.local_dirs, self.hub_repos, self.weight_files)

    def missing_weights(self, settings) -> str:
        """What to do when the weights are not found."""
        models_dir = Path(getattr(settings, "models_dir", "models"))
        where = models_dir / self.local_dirs[0] if self.local_dirs else models_dir
        files = ", ".join(f if isinstance(f, str) else " or ".join(f) for f in self.weight_files)
        hub = f" or the Hugging Face cache ({', '.join(self.hub_repos)})" if self.hub_repos else ""
        return f"{self.name} weights not found: put {files} in {where}{hub}"

    def availability(self, settings) -> Availability:
        """Can this backend run here, and if not, why not. Cheap: no model is loaded, nothing is sent."""
        for module in self.requires:
            if importlib.util.find_spec(module) is None:
                return Availability(False, f"{module} is not installed (pip install -r requirements.txt)")
        if self.weight_files:
            folder = self.weights(settings)
            if folder is None:
                return Availability(False, self.missing_weights(settings))
            return Availability(True, f"weights in {folder}")
        return Availability(True)

    def provenance(self, settings) -> Provenance:
        """The model and licence a generation made here records: what the weights found say they
        are (their cache repository, config, model card), else this backend's own."""
        folder = self.weights(settings)
        if folder is None:
            return Provenance(self.model, self.licence)
        card = weights_card(folder)
        return Provenance(card.model, card.licence or self.licence)

    def device(self, settings) -> str:
        """Where it computes: the one device picker's choice for neural backends, else "cpu"
        (a cloud backend's local work). Neural: imports torch, so call it only to load. A shareable
        model held elsewhere runs where its holder says (a cluster with a GPU: "cuda", from any node)."""
        if self.tier != "neural":
            return "cpu"
        explicit = getattr(settings, "device", "auto")
        elsewhere = getattr(self.registry.placement, "device", None) if self.shareable else None
        if elsewhere is not None:
            return elsewhere(explicit)
        from engines.device import pick_device

        return pick_device(explicit)

    # ------------------------------------------------------------------ loading, through the registry

    def model_key(self, settings) -> str:
        """The registry key of the model these settings load: kind, name, weights and device."""
        return self._key(self.weights(settings), self.device(settings))

    def _key(self, folder: Path | None, device: str) -> str:
        return f"{self.kind}:{self.name}:{folder or '-'}:{device}"

    def load_model(self, folder: Path | None, device: str) -> Any:
        """Load the model from `folder` onto `device`. Heavy: called once, by `load`, through the
        registry; an object with a `close()` is closed when the registry drops it."""
        raise NotImplementedError(f"the {self.name} backend has no model to load")

    def load(self, settings) -> Any:
        """The loaded model, shared through the registry (loaded on first use)."""
        folder = self.weights(settings)
        if self.weight_files and folder is None:
            raise BackendUnavailable(self.missing_weights(settings))
        device = self.device(settings)
        return self.registry.get(self._key(folder, device), lambda: self.load_model(folder, device),
                                 shareable=self.shareable, gpu=device.startswith("cuda"))

    def is_loaded(self, settings) -> bool:
        return self.registry.is_loaded(self.model_key(settings))

    def unload(self, settings) -> bool:
        """Free the model these settings load. True if it was loaded."""
        return self.registry.unload(self.model_key(settings))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind}/{self.name} ({self.tier})>"


class Backends:
    """Every backend the app offers, by kind, in the order `backend="auto"` tries them."""

    def __init__(self, backends: Iterable[Backend] = ()) -> None:
        self._by_kind: dict[str, dict[str, Backend]] = {}
        for b in backends:
            self.add(b)

    def add(self, backend: Backend, *, before: str | None = None) -> Backend:
        """Offer `backend`; `before` names a backend of its kind that auto should try after it."""
        if backend.tier not in TIERS:
            raise ValueError(f"{backend!r}: tier must be one of {', '.join(TIERS)}")
        table = self._by_kind.setdefault(backend.kind, {})
        if backend.name in table:
            raise ValueError(f"a {backend.kind} backend named {backend.name!r} is already offered")
        items = list(table.items())
        at = next((i for i, (n, _) in enumerate(items) if n == before), len(items))
        items.insert(at, (backend.name, backend))
        self._by_kind[backend.kind] = dict(items)
        return backend

    def remove(self, kind: str, name: str) -> Backend | None:
        return self._by_kind.get(kind, {}).pop(name, None)

    def kinds(self) -> list[str]:
        return list(self._by_kind)

    def of(self, kind: str) -> list[Backend]:
        return list(self._by_kind.get(kind, {}).values())

    def names(self, kind: str) -> list[str]:
        return list(self._by_kind.get(kind, {}))

    def get(self, kind: str, name: str) -> Backend:
        """The backend called `name`; an unknown name is an InputError that lists the choices."""
        key = (name or "").strip().lower()
        table = self._by_kind.get(kind, {})
        if key not in table:
            what = KIND_WORDS.get(kind, kind)
            raise InputError(f"unknown {what} backend {name!r}; choose auto, {', '.join(table) or '(none here)'}")
        return table[key]

    def availability(self, kind: str, name: str, settings) -> Availability:
        """Availability by name; a check that fails is reported as the reason, not raised."""
        return checked(self.get(kind, name), settings)

    def first_available(self, kind: str, settings, accept: Callable[[Backend], bool] = lambda b: True,
                        names: Iterable[str] | None = None) -> Backend | None:
        """The first backend auto may pick (or of `names`, in that order) that can run and is accepted."""
        candidates = [self.get(kind, n) for n in names] if names is not None else \
            [b for b in self.of(kind) if b.auto]
        return next((b for b in candidates if accept(b) and checked(b, settings).available), None)

    def report(self, settings, device: str = "") -> dict[str, list[dict]]:
        """Every backend's row of the capabilities report, by kind. `device` is what the neural
        backends would run on (described without importing torch)."""
        out: dict[str, list[dict]] = {}
        for kind, table in self._by_kind.items():
            rows = out.setdefault(kind, [])
            for b in table.values():
                a = checked(b, settings)
                try:
                    p = b.provenance(settings)
                except Exception:  # a broken card must not break the report
                    log.exception("provenance of %r failed", b)
                    p = Provenance(b.model, b.licence)
                rows.append({"backend": b.name, "tier": b.tier, "model": p.model, "licence": p.licence,
                             "device": {"neural": device, "cloud": "remote"}.get(b.tier, "cpu"), "auto": b.auto,
                             "available": a.available, "reason": a.reason})
        return out


def checked(backend: Backend, settings) -> Availability:
    """`backend.availability(settings)`, with a failing check turned into its reason."""
    try:
        return backend.availability(settings)
    except Exception as e:  # a broken check must not break a choice or the report
        log.exception("availability check of %r failed", backend)
        return Availability(False, f"check failed: {e}")
