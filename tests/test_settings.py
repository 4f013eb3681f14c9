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
    assert s.mcp_server is False


@pytest.mark.parametrize("value, on", [("1", True), ("true", True), ("YES", True), (" True ", True),
                                       ("", False), ("0", False), ("false", False), ("no", False)])
def test_mcp_server_from_the_environment(value, on):
    assert Settings.from_env({"GRADIO_MCP_SERVER": value}).mcp_server is on


def test_mcp_server_flag():
    assert Settings.from_args(["--mcp-server"], env={}).mcp_server is True
    assert Settings.from_args([], env={"GRADIO_MCP_SERVER": "1"}).mcp_server is True  # no flag keeps the env


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


def test_warm_model_actors_leave_after_their_idle_time():
    assert Settings.from_env({}).ray_model_idle_s == 600  # ten minutes unused, then the memory goes back
    assert Settings.from_env({"RAY_MODEL_IDLE_S": "0"}).ray_model_idle_s == 0  # never
    assert Settings.from_env({"RAY_MODEL_IDLE_S": "2.5"}).ray_model_idle_s == 2.5


@pytest.mark.parametrize("env, message", [
    ({"MAX_UPLOAD_MB": "lots"}, "MAX_UPLOAD_MB must be a whole number"),
    ({"AUTH": "nopassword"}, "AUTH must look like"),
    ({"CACHE_MAX_AGE_S": "0"}, "CACHE_MAX_AGE_S must be at least 1"),
    ({"C2PA_CERT": "/nonexistent/chain.pem"}, "C2PA_CERT and C2PA_KEY go together"),
    ({"C2PA_CERT": "/nonexistent/chain.pem", "C2PA_KEY": "/nonexistent/key.pem"}, "C2PA_CERT names"),
    ({"RAY_MODEL_IDLE_S": "-1"}, "RAY_MODEL_IDLE_S must be 0 or more"),
    ({"RAY_MODEL_IDLE_S": "soon"}, "RAY_MODEL_IDLE_S must be a number"),
])
def test_bad_settings_say_what_is_wrong(env, message):
    with pytest.raises(SystemExit, match=message):
        _ = Settings.from_env(env).auth_pairs  # the property raises


# What a Space with `hf_oauth: true` in its README has in its environment.
SPACE = {"SYSTEM": "spaces", "SPACE_ID": "someone/studio", "OAUTH_CLIENT_ID": "client", "OAUTH_CLIENT_SECRET": "s",
         "OAUTH_SCOPES": "openid profile", "OPENID_PROVIDER_URL": "https://huggingface.co"}


@pytest.mark.parametrize("env, password_accounts, mode", [
    ({}, False, "off"),
    ({}, True, "accounts"),
    ({"AUTH": "ann:secret"}, False, "accounts"),
    (SPACE, False, "huggingface"),
    (SPACE, True, "huggingface"),  # password accounts cannot sign in there, so they do not decide
    ({**SPACE, "AUTH": "ann:secret"}, False, "accounts"),  # the operator asked for passwords
    ({**SPACE, "SYSTEM": ""}, False, "off"),  # SPACE_ID alone is not a Space (Gradio asks SYSTEM=spaces too)
    ({**SPACE, "OAUTH_CLIENT_ID": ""}, True, "accounts"),  # a Space without hf_oauth
    ({**SPACE, "OAUTH_CLIENT_ID": ""}, False, "off"),
    ({**SPACE, "SIGN_IN": "off"}, False, "off"),
    ({**SPACE, "SIGN_IN": "accounts"}, False, "accounts"),
    ({**SPACE, "SIGN_IN": "HuggingFace"}, True, "huggingface"),
])
def test_the_sign_in_in_force(env, password_accounts, mode):
    assert Settings.from_env(env).resolve_sign_in(password_accounts) == mode


@pytest.mark.parametrize("env, missing", [
    ({}, "SYSTEM=spaces, SPACE_ID, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_SCOPES, OPENID_PROVIDER_URL"),
    ({**SPACE, "OAUTH_CLIENT_SECRET": "", "OPENID_PROVIDER_URL": ""}, "OAUTH_CLIENT_SECRET, OPENID_PROVIDER_URL"),
    ({**SPACE, "SYSTEM": "docker"}, "SYSTEM=spaces, SPACE_ID"),
])
def test_hugging_face_sign_in_outside_a_space_with_oauth_stops_the_start(env, missing):
    s = Settings.from_args(["--sign-in", "huggingface"], env=env)
    assert s.sign_in == "huggingface"
    with pytest.raises(SystemExit) as e:
        s.resolve_sign_in(False)
    assert f"not set here: {missing}." in str(e.value)
    assert "this machine's Hugging Face account" in str(e.value)


def test_admin_users_are_hugging_face_names_in_any_case():
    s = Settings.from_env({"ADMIN_USERS": " Ada, bob-the-builder ,,"})
    assert s.admin_names == {"ada", "bob-the-builder"}
    assert Settings.from_env({}).admin_names == set()
    with pytest.raises(SystemExit, match="SIGN_IN must be one of auto, accounts, huggingface, off"):
        Settings.from_env({"SIGN_IN": "github"})


def test_gradios_cache_lives_in_the_data_folder_and_expires(tmp_path):
    default = Settings.from_env({})
    assert default.cache_max_age_s == 86_400 and default.cache_sweep_s == 3600
    s = Settings.from_env({"DATA_DIR": str(tmp_path / "data"), "CACHE_MAX_AGE_S": "6"})
    assert s.cache_dir == tmp_path / "data" / "cache" and (s.cache_max_age_s, s.cache_sweep_s) == (6, 1)
    # Everything of the data folder but the cache is kept from being served, journals not yet made too.
    (tmp_path / "data" / "cache").mkdir(parents=True)
    (tmp_path / "data" / "notes.txt").write_text("private")
    private = s.private_paths()
    data = (tmp_path / "data").resolve()
    assert {data / "media", data / "scratch", data / "studio.db", data / "studio.db-wal", data / "notes.txt"} <= set(
        private)
    assert not any(p == data / "cache" or (data / "cache").is_relative_to(p) for p in private)


def test_media_on_object_storage_from_the_environment():
    s = Settings.from_env({"MEDIA_URL": "s3://studio-media/prod/v1/", "S3_ENDPOINT_URL": "http://minio:9000",
                           "AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "shh",
                           "MEDIA_CACHE_MB": "512", "DATA_DIR": "/srv/studio"})
    assert s.media_bucket == ("studio-media", "prod/v1") and s.s3_endpoint_url == "http://minio:9000"
    assert (s.s3_region, s.s3_access_key_id, s.media_cache_mb) == ("eu-west-1", "AKIA1", 512)
    assert s.media_cache_dir == Path("/srv/studio/media-cache")
    assert "shh" not in repr(s)
    assert Settings.from_env({}).media_url == "" and Settings.from_env({}).media_bucket == ("", "")
    assert Settings.from_env({"MEDIA_URL": "s3://b12", "AWS_DEFAULT_REGION": "us-east-2"}).s3_region == "us-east-2"


@pytest.mark.parametrize("env, message", [
    ({"MEDIA_URL": "/mnt/shared/media"}, "MEDIA_URL must look like s3://bucket"),
    ({"MEDIA_URL": "s3://"}, "MEDIA_URL must look like s3://bucket"),
    ({"MEDIA_URL": "s3://Bad_Bucket/x"}, "MEDIA_URL must look like s3://bucket"),
    ({"MEDIA_URL": "s3://media", "AWS_ACCESS_KEY_ID": "AKIA1"}, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go"),
    ({"MEDIA_URL": "s3://media", "S3_ENDPOINT_URL": "minio:9000"}, "S3_ENDPOINT_URL must start with http"),
    ({"MEDIA_CACHE_MB": "0"}, "MEDIA_CACHE_MB must be at least 1"),
])
def test_bad_media_settings_say_what_is_wrong(env, message):
    with pytest.raises(SystemExit, match=message):
        Settings.from_env(env)


def test_the_local_media_store_loads_no_object_storage_client(tmp_path):
    """`make run` with no MEDIA_URL: the app's services are built without importing any S3 client."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    code = ("import sys; from pathlib import Path; from settings import Settings; from services import build_services; "
            f"build_services(Settings(data_dir=Path({str(tmp_path / 'data')!r}))); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'obstore', 's3fs', 'botocore', 'boto3', "
            "'aiobotocore'}) + sorted(m for m in sys.modules if m.startswith('fsspec.implementations')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
