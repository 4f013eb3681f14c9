"""Where temporary files go: into a folder the caller names, never the system temp folder.

A job's files live under its own folder in the data folder (DATA_DIR/scratch/<job>), which the job
runner removes when the job ends and start-up removes after a crash; engines do not know that folder,
so it is passed in as `scratch`, the way progress and cancel are. Without one, an engine keeps its
temporary files in a private folder beside its output, so they still land wherever the caller put
the output, and go when the call ends.

    with temp_dir(scratch, out_path.parent, "encode-") as tmp:
        ...  # tmp is a fresh folder, removed when the block ends (an exception too)
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def private_dir(parent: str | Path, prefix: str) -> Path:
    """A new folder (mode 0700) inside `parent` (made when missing); the caller removes it."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


@contextmanager
def temp_dir(scratch: str | Path | None, beside: str | Path, prefix: str) -> Iterator[Path]:
    """A private folder for one call's temporary files, removed when the block ends: inside `scratch`
    (the caller's scratch folder, e.g. a job's), else inside `beside` (the folder the output goes to)."""
    folder = private_dir(scratch if scratch is not None else beside, prefix)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


__all__ = ["private_dir", "temp_dir"]
