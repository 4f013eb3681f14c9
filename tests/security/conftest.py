"""The bad-input corpus runs against the real app (`python app.py`, as tests/api does), one process per
module, and checks each refusal twice: the message names what was wrong, and nothing was stored.

"Nothing was stored" is read from both sides: the database (every table's rows, the projects' change
times) and the data folder (every file and folder under it, scratch included), plus /list_projects.
The security log (table securityevent) is left out: a refused upload is recorded there on purpose; so
is Gradio's cache (DATA_DIR/cache), which holds what a client uploads before any endpoint runs and
expires on its own (tests/storage/test_cache.py, tests/api/test_soak_api.py)."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

from tests.conftest import AppProcess, free_port

# Rows a refused request may add: the security log records refused uploads.
LOGGED = {"securityevent"}
DB_FILES = {"studio.db", "studio.db-wal", "studio.db-shm", "studio.db-journal"}


@dataclass
class Snapshot:
    rows: dict[str, int]
    projects: list[tuple]
    files: list[str]
    listed: list[dict]


class Target:
    """The app under test, a client, and a folder for the bad files built in code."""

    def __init__(self, app: AppProcess, client: Client, files: Path) -> None:
        self.app, self.client, self.files = app, client, files

    def file(self, name: str, data: bytes):
        """`data` saved as `name` and handed to the client as an upload."""
        path = self.files / name
        path.write_bytes(data)
        return handle_file(str(path))

    def snapshot(self) -> Snapshot:
        data = self.app.data_dir
        con = sqlite3.connect(f"file:{data / 'studio.db'}?mode=ro", uri=True)
        try:
            tables = [t for (t,) in con.execute("select name from sqlite_master where type = 'table'")
                      if t not in LOGGED and not t.startswith("sqlite_")]
            rows = {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}
            projects = con.execute("select id, name, updated_at from project order by id").fetchall()
        finally:
            con.close()
        files = sorted(str(p.relative_to(data)) for p in data.rglob("*")
                       if p.name not in DB_FILES and p.relative_to(data).parts[0] != "cache")
        return Snapshot(rows, projects, files, self.client.predict(api_name="/list_projects"))

    def refused(self, match: str, **call) -> str:
        """Call the API; it must fail with a message matching `match` (a regex) and leave the database and
        the data folder as they were. Returns the message."""
        from gradio_client.exceptions import AppError

        def call_it() -> str:
            with pytest.raises(AppError) as e:
                self.client.predict(**call)
            return str(e.value)

        return self._unchanged(call["api_name"], match, call_it)

    def refused_raw(self, match: str, api_name: str, body: str) -> str:
        """The same for a hand-written JSON body (`{"data": [...]}`) POSTed as is: what a client that is not
        gradio_client can send (NaN, server paths in a file payload)."""
        def call_it() -> str:
            base = f"{self.app.url}gradio_api/call{api_name}"
            with httpx.Client(timeout=60) as c:
                r = c.post(base, content=body.encode(), headers={"content-type": "application/json"})
                r.raise_for_status()
                stream = c.get(f"{base}/{r.json()['event_id']}").text
            assert "event: error" in stream, stream
            data = stream.split("event: error", 1)[1].split("data:", 1)[1].strip().splitlines()[0]
            return json.loads(data)["error"]

        return self._unchanged(api_name, match, call_it)

    def _unchanged(self, api_name: str, match: str, call_it) -> str:
        before = self.snapshot()
        message = call_it()
        assert re.search(match, message), f"{api_name}: {message!r} does not match {match!r}"
        assert "Something went wrong" not in message
        after = self.snapshot()
        assert after.rows == before.rows, f"{api_name} ({message}) changed rows"
        assert after.projects == before.projects, f"{api_name} ({message}) changed a project"
        assert after.files == before.files, f"{api_name} ({message}) left files"
        assert after.listed == before.listed
        return message


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Target:
    root = tmp_path_factory.mktemp("security")
    app = AppProcess(root / "data", free_port())
    try:
        client = Client(app.url, verbose=False, download_files=str(root / "downloads"))
        (root / "files").mkdir()
        yield Target(app, client, root / "files")
    finally:
        app.stop()


@pytest.fixture(scope="module")
def project_id(target) -> int:
    return target.client.predict(name="Bad input", api_name="/create_project")["id"]
