"""The one weight locator: MODELS_DIR folders first, alternatives of a required file, no network;
and what a weights folder says about itself (model id, licence)."""

from __future__ import annotations

import json

from engines.weights import has_files, locate_weights, weights_card
from settings import Settings


def test_local_folder_with_every_file_is_found(tmp_path):
    settings = Settings(models_dir=tmp_path / "models")
    folder = tmp_path / "models" / "thing"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    assert locate_weights(settings, ["thing"], [], ["config.json", ("model.safetensors", "model.bin")]) is None
    (folder / "model.bin").write_bytes(b"0")
    assert locate_weights(settings, ["missing", "thing"], [],
                          ["config.json", ("model.safetensors", "model.bin")]) == folder
    assert has_files(folder, ["config.json"]) and not has_files(folder / "nope", ["config.json"])


def test_absolute_local_dir_and_unknown_hub_repo(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert locate_weights(None, [str(tmp_path)], [], ["config.json"]) == tmp_path
    assert locate_weights(Settings(models_dir=tmp_path), [], ["nobody/not-a-model-here"], ["config.json"]) is None


def test_a_folder_says_which_model_it_holds_and_its_licence(tmp_path):
    # A Hugging Face cache snapshot: the repository is in the path; the card declares the licence.
    snapshot = tmp_path / "hub" / "models--facebook--musicgen-medium" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (snapshot / "README.md").write_text("---\ninference: true\nlicense: cc-by-nc-4.0\n"
                                        "tags:\n- music\n---\n# MusicGen\n")
    assert weights_card(snapshot).model == "facebook/musicgen-medium"
    assert weights_card(snapshot).licence == "cc-by-nc-4.0"

    # A saved copy: config.json remembers where it came from; no card, no licence claimed.
    saved = tmp_path / "models" / "my-copy"
    saved.mkdir(parents=True)
    (saved / "config.json").write_text(json.dumps({"_name_or_path": "suno/bark"}))
    assert (weights_card(saved).model, weights_card(saved).licence) == ("suno/bark", "")

    # A folder that says nothing is recorded as itself, never as some default model.
    (saved / "config.json").write_text(json.dumps({"_name_or_path": "/home/me/train/run-3"}))
    (saved / "README.md").write_text("# my fine-tune\nlicense: not front matter\n")
    assert (weights_card(saved).model, weights_card(saved).licence) == (str(saved), "")
