"""The one weight locator: MODELS_DIR folders first, alternatives of a required file, no network."""

from __future__ import annotations

from engines.weights import has_files, locate_weights


def test_local_folder_with_every_file_is_found(tmp_path):
    folder = tmp_path / "models" / "thing"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    assert locate_weights(tmp_path / "models", ["thing"], [], ["config.json", ("model.safetensors", "model.bin")]) is None
    (folder / "model.bin").write_bytes(b"0")
    assert locate_weights(tmp_path / "models", ["missing", "thing"], [], ["config.json", ("model.safetensors", "model.bin")]) == folder
    assert has_files(folder, ["config.json"]) and not has_files(folder / "nope", ["config.json"])


def test_absolute_local_dir_and_unknown_hub_repo(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert locate_weights(None, [str(tmp_path)], [], ["config.json"]) == tmp_path
    assert locate_weights(tmp_path, [], ["nobody/not-a-model-here"], ["config.json"]) is None
