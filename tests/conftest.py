"""Shared fixtures: settings in a temp dir, SQLite and a real PostgreSQL server, a running app."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Real media copied into the repository with their sources and licences (README.md in each
# folder): voices/<speaker>/ and portraits/. Tests read nothing outside the repository.
SAMPLES = ROOT / "tests" / "data"
VOICES = SAMPLES / "voices"
# Model weights the tests share (the packaged Whisper model is unpacked here once).
MODELS_DIR = ROOT / "models"
sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from settings import Settings  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen) -> None:
    """Ask a server process to end, and kill it if it has not within 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def samples() -> Path:
    """tests/data: voices/<speaker>/*.flac and portraits/*.png."""
    return SAMPLES


# Voice profiles in tests that are not about consent are made with ticked consent; spoken consent
# (the product's default) has its own tests (tests/workflows/test_voice_consent.py, tests/api).
TEST_VOICE_CONSENT = "attested"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", models_dir=MODELS_DIR, voice_consent=TEST_VOICE_CONSENT)


def voice_clips(speaker: str) -> list[Path]:
    """The real recordings of one speaker in tests/data/voices, in name order."""
    folder = VOICES / speaker
    return sorted(p for p in folder.iterdir() if p.suffix in (".flac", ".wav"))


def transcripts(speaker: str) -> dict[str, str]:
    """file name -> text, from the speaker's transcript.txt."""
    out = {}
    for line in (VOICES / speaker / "transcript.txt").read_text(encoding="utf-8").splitlines():
        if "\t" in line and not line.startswith("#"):
            name, text = line.split("\t", 1)
            out[name] = text.strip()
    return out


# ------------------------------------------------------------------ PostgreSQL


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster on a free loopback port, for the whole session."""
    initdb, pg_ctl = PG_BIN / "initdb", PG_BIN / "pg_ctl"
    if not initdb.exists():
        pytest.skip("PostgreSQL server binaries not installed (Debian package postgresql)")
    base = Path(tempfile.mkdtemp(prefix="pgtest-"))
    port = free_port()
    as_pg: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(base, "postgres", "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_pg, str(initdb), "-D", str(base / "data"), "-A", "trust", "-U", "app"],
                   check=True, capture_output=True)
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_pg, str(pg_ctl), "-D", str(base / "data"), "-o", opts, "-l", str(base / "log"), "-w", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://app@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_pg, str(pg_ctl), "-D", str(base / "data"), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


_db_counter = [0]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path: Path) -> str:
    """Each storage test runs on SQLite and on a fresh database in the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    server = request.getfixturevalue("postgres_server")
    import psycopg

    _db_counter[0] += 1
    name = f"t{os.getpid()}_{_db_counter[0]}"
    with psycopg.connect(server.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="module")
def backends():
    """The backends the app offers (services.make_backends), for engine tests that choose among them."""
    from services import make_backends

    return make_backends()


@pytest.fixture
def services(settings: Settings, db_url: str):
    from dataclasses import replace

    from services import build_services

    svc = build_services(replace(settings, database_url=db_url))
    yield svc
    svc.library.engine.dispose()


@pytest.fixture
def sqlite_services(settings: Settings, tmp_path: Path):
    """Services on SQLite only: for long media workflows whose storage side the two-database
    tests already cover."""
    from dataclasses import replace

    from services import build_services

    svc = build_services(replace(settings, database_url=f"sqlite:///{tmp_path / 'media.db'}"))
    yield svc
    svc.library.engine.dispose()


@pytest.fixture
def library(services):
    return services.library


# ------------------------------------------------------------------ S3-compatible object storage

# moto's server mode, in its own virtual environment (tests/s3server-requirements.txt; `make setup-dev`).
S3_SERVER = ROOT / ".venv-s3" / "bin" / "moto_server"


class S3Server:
    """A real S3-compatible server on 127.0.0.1, spoken to over HTTP; any key pair is accepted."""

    key, secret, region = "test-key", "test-secret", "us-east-1"

    def __init__(self, port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        kept = {k: v for k, v in os.environ.items() if k in _HOST_VARS or k.startswith("LC_")}
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([str(S3_SERVER), "-H", "127.0.0.1", "-p", str(port)], cwd=ROOT, env=kept,
                                         stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the S3 test server did not start:\n{log.read_text()[-2000:]}") from None
                time.sleep(0.1)

    def make_bucket(self, name: str) -> str:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/{name}", method="PUT"), timeout=10).close()
        return name

    def keys(self, bucket: str, prefix: str = "") -> dict[str, tuple[int, str]]:
        """key -> (size, MD5 hex of the content) of every object under `prefix`, as the server lists them
        (ListObjectsV2; the ETag of an object uploaded in one request is its MD5)."""
        import xml.etree.ElementTree as ET
        from urllib.parse import quote

        ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
        with urllib.request.urlopen(f"{self.url}/{bucket}?list-type=2&prefix={quote(prefix)}", timeout=10) as r:
            root = ET.fromstring(r.read())
        return {c.find(f"{ns}Key").text: (int(c.find(f"{ns}Size").text), c.find(f"{ns}ETag").text.strip('"'))
                for c in root.iter(f"{ns}Contents")}

    def stop(self) -> None:
        stop_process(self.proc)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    if not S3_SERVER.exists():
        pytest.skip("the S3 test server (moto) is not installed: `make setup-dev` builds .venv-s3 from "
                    "tests/s3server-requirements.txt")
    server = S3Server(free_port(), tmp_path_factory.mktemp("s3") / "moto.log")
    yield server
    server.stop()


# ------------------------------------------------------------------ the running app


_HOST_VARS = {"PATH", "HOME", "USER", "LANG", "TZ", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV"}


class AppProcess:
    def __init__(self, data_dir: Path, port: int, env: dict | None = None) -> None:
        self.data_dir, self.port = data_dir, port
        self.url = f"http://127.0.0.1:{port}/"
        self.log = data_dir.parent / f"app-{port}.log"
        # A clean environment: the host's keys, database URL, sign-in or device settings never reach
        # the app under test (only what a process needs to run, and what the test passes).
        kept = {k: v for k, v in os.environ.items() if k in _HOST_VARS or k.startswith("LC_")}
        full_env = {**kept, "HF_HUB_OFFLINE": "1", "MODELS_DIR": str(MODELS_DIR),
                    "DATA_DIR": str(data_dir), "GRADIO_SERVER_PORT": str(port),
                    "GRADIO_SERVER_NAME": "127.0.0.1", "VOICE_CONSENT": TEST_VOICE_CONSENT, **(env or {})}
        # The child gets its own copy of the log's descriptor; ours can close once it has started.
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=full_env,
                                         stdout=log, stderr=subprocess.STDOUT)
        try:
            self.wait_ready()
        except BaseException:
            self.stop()  # an app that never answered must not outlive the test run
            raise

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited early:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "gradio_api/info", timeout=2) as r:
                    if r.status == 200:
                        return
            except urllib.error.HTTPError as e:
                if e.code == 401:  # up, with sign-in on
                    return
                time.sleep(0.3)
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"app did not start in {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        stop_process(self.proc)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """The real app (`python app.py`) on a free port with its own data folder."""
    data_dir = tmp_path_factory.mktemp("app") / "data"
    app = AppProcess(data_dir, free_port())
    yield app
    app.stop()


@pytest.fixture(scope="session")
def client(app_server, tmp_path_factory):
    from gradio_client import Client

    return Client(app_server.url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


@pytest.fixture(scope="session")
def exported():
    """exported(client, project_id, folder) -> {asset name: file}: the project's files through /export_project
    (the way a client gets outputs an endpoint does not return, such as the sidecars of texts)."""

    def export(client, project_id: int, folder: Path) -> dict[str, Path]:
        import json
        import zipfile

        zpath = Path(client.predict(project_id=project_id, api_name="/export_project"))
        files: dict[str, Path] = {}
        with zipfile.ZipFile(zpath) as zf:
            for a in json.loads(zf.read("manifest.json"))["assets"]:
                dest = Path(folder) / a["name"]
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(zf.read(a["file"]))
                files[a["name"]] = dest
        return files

    return export
