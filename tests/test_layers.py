"""The layering stays true: tabs -> workflows -> engines and storage -> core, and no gradio below the tabs.

Every import is read with `ast`, those inside functions too, so a lazy import cannot slip past."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = {"core", "engines", "storage", "workflows", "tabs", "services", "settings", "app", "users_cli", "cluster"}
# What each layer may import of the project; settings.py is the one settings object, read above the engines.
ALLOWED = {
    "core": {"core"},
    "settings": {"settings"},
    "engines": {"core", "engines"},
    "storage": {"core", "storage"},
    "workflows": {"core", "engines", "storage", "workflows", "settings"},
    "services": PROJECT - {"tabs", "app", "users_cli"},
    # The Ray executor builds a worker's own services, as app.py builds the web process's.
    "cluster": PROJECT - {"tabs", "app", "users_cli"},
    "users_cli": {"core", "storage", "settings"},
    "tabs": PROJECT - {"app", "users_cli"},
    "app": PROJECT,
}
UI = {"tabs", "app"}  # the only layers that may import gradio


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def test_each_layer_imports_only_what_lies_below_it():
    broken = []
    for layer, allowed in ALLOWED.items():
        files = sorted((ROOT / layer).rglob("*.py")) if (ROOT / layer).is_dir() else [ROOT / f"{layer}.py"]
        assert files and all(f.is_file() for f in files), f"no Python files for the {layer} layer"
        for path in files:
            for line, top in imported(path):
                if (top in PROJECT and top not in allowed) or (top == "gradio" and layer not in UI):
                    broken.append(f"{path.relative_to(ROOT)}:{line} ({layer}) imports {top}")
    assert not broken, "imports that break the layering:\n" + "\n".join(broken)
