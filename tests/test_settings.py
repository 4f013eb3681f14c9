"""Settings come from the environment and CLI flags, with defaults that run as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from settings import Settings


def test_defaults_run_with_no_arguments():
    s = Settings.from_args([], env={})
    assert s.data_dir == Path("data") and s.server_port == 7860 and s.share is False
    assert s.db_url.startswith("sqlite:///") and s.db_url.endswith("data/studio.db")
    assert s.auth_pairs == []


def test_environment_and_flags():
    env = {"DATA_DIR": "/srv/studio", "DATABASE_URL": "postgres://u:p@db:5432/studio", "MAX_UPLOAD_MB": "50",
           "GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7000", "OPENAI_API_KEY": "sk-test",
           "AUTH": "ann:secret,bob:hunter2"}
    s = Settings.from_args(["--port", "8000", "--share", "--device", "cpu"], env=env)
    assert s.data_dir == Path("/srv/studio") and s.max_upload_mb == 50
    assert s.db_url == "postgresql+psycopg://u:p@db:5432/studio"
    assert (s.server_name, s.server_port, s.share, s.device) == ("0.0.0.0", 8000, True, "cpu")
    assert s.auth_pairs == [("ann", "secret"), ("bob", "hunter2")]
    assert s.media_dir == Path("/srv/studio/media")


@pytest.mark.parametrize("env, message", [
    ({"MAX_UPLOAD_MB": "lots"}, "MAX_UPLOAD_MB must be a whole number"),
    ({"AUTH": "nopassword"}, "AUTH must look like"),
])
def test_bad_settings_say_what_is_wrong(env, message):
    with pytest.raises(SystemExit, match=message):
        _ = Settings.from_env(env).auth_pairs  # the property raises
