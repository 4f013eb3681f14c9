"""app.py builds the studio for launch without loading what only a generation needs: a start is Gradio's import
plus the studio's own, and the engines' libraries load when first used (bench/startup.py times it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import _HOST_VARS, MODELS_DIR

ROOT = Path(__file__).resolve().parent.parent
# The engines' libraries (native code, models, or slow to import: pyworld pulls in setuptools' pkg_resources).
LAZY = ("torch", "transformers", "onnxruntime", "cv2", "scipy", "librosa", "pyworld", "pkg_resources",
        "faster_whisper", "ctranslate2", "resemblyzer", "webrtcvad", "mediapipe", "c2pa", "numba", "pptx",
        "matplotlib", "moviepy", "espeakng")


def test_the_built_app_has_loaded_no_engine_library(tmp_path):
    code = ("import json, sys, app\n"
            "from settings import Settings\n"
            "services, demo = app.create(Settings.from_args([]))\n"
            f"print(json.dumps([m for m in {LAZY!r} if m in sys.modules]))\n"
            "print(len(demo.fns))\n"
            # Gradio's interim server apps were skipped, and its app builder is itself again for launch().
            "from gradio.routes import App\n"
            "from gradio.blocks import Blocks\n"
            "assert demo.app is None and demo.config is None, 'an interim server app was built'\n"
            "assert App.create_app.__module__ == 'gradio.routes' and Blocks.get_config_file.__module__ == "
            "'gradio.blocks'\n")
    # A clean environment, as for the running app in the API tests: no database URL, sign-in or device
    # setting of the host's reaches it.
    kept = {k: v for k, v in os.environ.items() if k in _HOST_VARS or k.startswith("LC_")}
    env = {**kept, "DATA_DIR": str(tmp_path / "data"), "MODELS_DIR": str(MODELS_DIR), "HF_HUB_OFFLINE": "1",
           "LOG_LEVEL": "WARNING"}
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    loaded, fns = run.stdout.strip().splitlines()[-2:]
    assert int(fns) > 40  # the app was really built: every tab's events and the API
    assert json.loads(loaded) == []
