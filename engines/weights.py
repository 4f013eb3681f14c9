"""The one weight locator: a folder under MODELS_DIR, else a snapshot in the Hugging Face cache.

Never touches the network and never loads anything: it only looks for files, so the capabilities
report can call it freely. `weights_card` says which model a folder holds and under which licence,
from what the folder itself says (its place in the cache, config.json, the model card).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import BackendUnavailable

log = logging.getLogger(__name__)

# A required file: one name, or a tuple of alternatives of which one must exist.
Required = str | tuple[str, ...]
# Weight files transformers saves (one of them next to config.json means "weights present").
TRANSFORMERS_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                        "pytorch_model.bin.index.json")
# A cached snapshot lives in .../models--<org>--<name>/snapshots/<revision>/.
_CACHE_DIR = re.compile(r"^models--(?P<org>[^/]+?)--(?P<name>[^/]+)$")
_LICENSE_LINE = re.compile(r"^licen[cs]e:\s*['\"]?(?P<licence>[^'\"\n#]+?)['\"]?\s*(#.*)?$", re.IGNORECASE)


def has_files(folder: Path, files: Sequence[Required]) -> bool:
    """True if `folder` holds every required file (one of each tuple of alternatives)."""
    if not folder.is_dir():
        return False
    for need in files:
        names = (need,) if isinstance(need, str) else need
        if not any((folder / n).is_file() for n in names):
            return False
    return True


def is_repo_id(value: str) -> bool:
    """True for a Hugging Face repository id such as "facebook/musicgen-small" (not a path on disk)."""
    parts = value.split("/")
    return len(parts) == 2 and all(parts) and not value.startswith((".", "~")) and not Path(value).exists()


def hub_snapshot(repo: str, files: Sequence[Required]) -> Path | None:
    """The local snapshot folder of `repo` in the Hugging Face cache holding `files`, or None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    first = files[0] if files else "config.json"
    probe = first if isinstance(first, str) else first[0]
    try:
        found = try_to_load_from_cache(repo, probe)
    except Exception:  # a damaged cache or a malformed id must not break the capabilities report
        log.debug("looking up %s in the Hugging Face cache failed", repo, exc_info=True)
        return None
    if not isinstance(found, str):
        return None
    folder = Path(found).parent
    return folder if has_files(folder, files) else None


def locate_weights(settings, local_dirs: Iterable[str], hub_repos: Iterable[str],
                   files: Sequence[Required]) -> Path | None:
    """The first folder holding `files`: `settings.models_dir/<local_dir>` in order, then each hub
    repo's cached snapshot. A local dir may also be an absolute path. `settings` may be None."""
    models_dir = getattr(settings, "models_dir", None)
    for name in local_dirs:
        folder = Path(name).expanduser()
        if not folder.is_absolute() and models_dir is not None:
            folder = Path(models_dir) / name
        if has_files(folder, files):
            return folder
    for repo in hub_repos:
        snap = hub_snapshot(repo, files)
        if snap is not None:
            return snap
    return None


@dataclass(frozen=True)
class WeightsCard:
    # The repository id ("facebook/musicgen-small") when the folder says which it is, else the folder.
    model: str
    # The licence the model card declares ("cc-by-nc-4.0"), or "" when it declares none.
    licence: str


def weights_card(folder: Path) -> WeightsCard:
    """Which model `folder` holds and its declared licence, read from the folder only (cheap)."""
    folder = Path(folder)
    model = ""
    if folder.parent.name == "snapshots":  # a Hugging Face cache snapshot
        m = _CACHE_DIR.match(folder.parent.parent.name)
        if m:
            model = f"{m['org']}/{m['name']}"
    if not model:
        try:
            named = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("_name_or_path", "")
        except (OSError, ValueError, AttributeError):
            named = ""
        model = named if isinstance(named, str) and is_repo_id(named) else str(folder)
    return WeightsCard(model, _card_licence(folder / "README.md"))


def _card_licence(card: Path) -> str:
    """The `license:` of a model card's YAML front matter, or ""."""
    try:
        text = card.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    if not text.startswith("---"):
        return ""
    for line in text.splitlines()[1:]:
        if line.strip() == "---":
            break
        m = _LICENSE_LINE.match(line.strip())
        if m:
            return m["licence"].strip()
    return ""


def load_pretrained(folder: Path, device: str, processor_cls: type, model_cls: type, what: str) -> tuple:
    """A Hugging Face processor and model from `folder` (never the network), in half precision on
    CUDA, in evaluation mode on `device`. Files that cannot be read are BackendUnavailable naming
    `what` ("Bark", "MusicGen"). Returns (processor, model, dtype)."""
    import torch

    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    try:
        processor = processor_cls.from_pretrained(str(folder), local_files_only=True)
        model = model_cls.from_pretrained(str(folder), dtype=dtype, local_files_only=True)
    except (OSError, ValueError) as e:
        raise BackendUnavailable(f"the {what} files in {folder} could not be loaded ({e}); "
                                 "replace them with a complete copy of the model") from e
    return processor, model.to(device).eval(), dtype
