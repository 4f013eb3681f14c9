"""The one weight locator: a folder under MODELS_DIR, else a snapshot in the Hugging Face cache.

Never touches the network and never loads anything: it only looks for files, so the capabilities
report can call it freely.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

# A required file: one name, or a tuple of alternatives of which one must exist.
Required = str | tuple[str, ...]


def has_files(folder: Path, files: Sequence[Required]) -> bool:
    """True if `folder` holds every required file (one of each tuple of alternatives)."""
    if not folder.is_dir():
        return False
    for need in files:
        names = (need,) if isinstance(need, str) else need
        if not any((folder / n).is_file() for n in names):
            return False
    return True


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


def locate_weights(models_dir: Path | str | None, local_dirs: Iterable[str], hub_repos: Iterable[str],
                   files: Sequence[Required]) -> Path | None:
    """The first folder holding `files`: `models_dir/<local_dir>` in order, then each hub repo's
    cached snapshot. A local dir may also be an absolute path."""
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
