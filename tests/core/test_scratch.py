"""Temporary files go into a folder the caller names: core.scratch is the one place that makes them,
and nothing else of the app reaches for the system temp folder."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.scratch import private_dir, temp_dir

ROOT = Path(__file__).resolve().parent.parent.parent
# The app's code (tests and benchmarks may use the system temp folder).
APP = ["core", "engines", "storage", "workflows", "tabs", "services.py", "settings.py", "app.py", "users_cli.py"]


def test_temp_dir_lies_in_scratch_else_beside_the_output_and_goes_at_the_end(tmp_path):
    scratch, out = tmp_path / "job" / "tmp", tmp_path / "out"
    with temp_dir(scratch, out, "encode-") as a:
        assert a.parent == scratch and a.name.startswith("encode-") and a.is_dir()
        (a / "audio.wav").write_bytes(b"x")
    assert not a.exists() and list(scratch.iterdir()) == []
    with pytest.raises(RuntimeError), temp_dir(None, out, "deck-") as b:
        assert b.parent == out
        raise RuntimeError("the engine failed")
    assert not b.exists() and list(out.iterdir()) == []
    made = private_dir(tmp_path / "new" / "parent", "job1-")
    assert made.is_dir() and made.parent == tmp_path / "new" / "parent" and (made.stat().st_mode & 0o777) == 0o700


def test_only_core_scratch_makes_temporary_files():
    """A `tempfile` call anywhere else in the app could land in the system temp folder, where a crash
    leaves it for ever; everything goes through core.scratch with a folder named by the caller."""
    users = []
    for entry in APP:
        files = sorted((ROOT / entry).rglob("*.py")) if (ROOT / entry).is_dir() else [ROOT / entry]
        for path in files:
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if any(n.split(".")[0] == "tempfile" for n in names):
                    users.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert [u for u in users if not u.startswith("core/scratch.py:")] == [] and users, users
