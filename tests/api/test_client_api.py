"""The public client API, through gradio_client against the running app."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
import soundfile as sf
from gradio_client import handle_file

CONTRACT = {
    "/create_project": ["name"],
    "/upload_media": ["project_id", "file"],
    "/list_assets": ["project_id"],
    "/export_project": ["project_id"],
    "/import_project": ["file"],
    "/capabilities": [],
    "/cancel": ["generation_id"],
    "/rerun": ["generation_id", "overrides_json"],
}


def test_endpoint_names_and_parameters_are_stable(client):
    named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for name, params in CONTRACT.items():
        assert name in named, f"{name} missing from the API"
        assert [p["parameter_name"] for p in named[name]["parameters"]] == params


def test_project_upload_list_export_import(client, samples, tmp_path):
    flac = samples / "voices" / "librispeech-1998" / "1998-15444-0000.flac"
    p = client.predict(name="API project", api_name="/create_project")
    assert p["id"] > 0 and p["name"] == "API project"

    a = client.predict(project_id=p["id"], file=handle_file(str(flac)), api_name="/upload_media")
    assert a["kind"] == "audio" and a["name"] == flac.name and a["sample_rate"] == 16000
    assert a["duration_s"] == pytest.approx(sf.info(str(flac)).duration, abs=0.01)
    photo = client.predict(project_id=p["id"], file=handle_file(str(samples / "portraits" / "art_0.png")),
                           api_name="/upload_media")
    assert (photo["kind"], photo["width"], photo["height"]) == ("photo", 640, 896)

    listed = client.predict(project_id=p["id"], api_name="/list_assets")
    assert [x["id"] for x in listed] == [a["id"], photo["id"]]

    zpath = Path(client.predict(project_id=p["id"], api_name="/export_project"))
    with zipfile.ZipFile(zpath) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert {x["sha256"] for x in manifest["assets"]} == {a["sha256"], photo["sha256"]}

    q = client.predict(file=handle_file(str(zpath)), api_name="/import_project")
    assert q["id"] != p["id"] and q["name"] == "API project" and q["asset_count"] == 2
    again = client.predict(project_id=q["id"], api_name="/list_assets")
    assert sorted(x["sha256"] for x in again) == sorted(x["sha256"] for x in listed)


def test_bad_upload_is_a_clear_error_and_stores_nothing(client, app_server, tmp_path):
    p = client.predict(name="Bad uploads", api_name="/create_project")
    fake = tmp_path / "song.wav"
    fake.write_text("this is a text file pretending to be audio")
    with pytest.raises(Exception, match="named as audio"):
        client.predict(project_id=p["id"], file=handle_file(str(fake)), api_name="/upload_media")
    assert client.predict(project_id=p["id"], api_name="/list_assets") == []


def test_unknown_project_is_a_clear_error(client):
    with pytest.raises(Exception, match="no project with id 987654"):
        client.predict(project_id=987654, api_name="/list_assets")


@pytest.mark.parametrize("target", ["database", "server file"])
def test_server_paths_are_not_accepted_as_uploads(client, app_server, samples, target):
    """A raw API call naming a file on the server instead of uploading one is refused."""
    import httpx

    p = client.predict(name="Path injection", api_name="/create_project")
    path = app_server.data_dir / "studio.db" if target == "database" else next(samples.rglob("*.flac"))
    forged = {"path": str(path), "orig_name": "notes.flac", "meta": {"_type": "gradio.FileData"}}
    base = f"{app_server.url}gradio_api/call/upload_media"
    event_id = httpx.post(base, json={"data": [p["id"], forged]}, timeout=10).json()["event_id"]
    stream = httpx.get(f"{base}/{event_id}", timeout=30).text
    assert "event: error" in stream
    assert client.predict(project_id=p["id"], api_name="/list_assets") == []


def test_database_and_media_are_not_served(app_server):
    db = (app_server.data_dir / "studio.db").resolve()
    assert db.exists()
    for path in (str(db), f"{app_server.data_dir.name}/studio.db"):
        url = f"{app_server.url}gradio_api/file={path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                body = r.read(16)
        except urllib.error.HTTPError as e:
            assert e.code in (403, 404)
        else:
            pytest.fail(f"{url} answered {r.status} with {body!r}")


def test_capabilities_report(client):
    caps = client.predict(api_name="/capabilities")
    # The app picks the device this host has (CPU here, a GPU where there is one).
    from engines.device import pick_device

    assert caps["device"]["device"] == pick_device("auto")
    intake = caps["engines"]["media_intake"][0]
    assert intake["available"] is True and intake["tier"] == "embedded"
    assert caps["tools"]["ffprobe"]["available"] is True
    # The test server runs without the host's keys: no language model is configured.
    assert caps["llm"]["available"] is False and "OPENAI_API_KEY" in caps["llm"]["reason"]
