"""Bad files through the client API: uploads, project zips and file URLs. Each is refused with a message
naming what was wrong, and leaves no row and no file (see conftest.Target.refused)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import httpx
import pytest

from tests.security import badfiles as bad

HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


def test_the_snapshot_sees_a_stored_upload(target, project_id):
    """The check every refusal relies on notices rows and files: an accepted upload changes both."""
    before = target.snapshot()
    a = target.client.predict(project_id=project_id, file=target.file("ok.png", bad.png()), api_name="/upload_media")
    after = target.snapshot()
    assert (a["kind"], a["width"], a["height"]) == ("photo", 64, 48)
    assert after.rows["asset"] == before.rows["asset"] + 1
    assert len(after.files) > len(before.files) and after.projects != before.projects


UPLOADS = {
    "text named .wav": ("song.wav", b"this is a text file pretending to be audio", r"'song\.wav' is named as audio"),
    "HTML named .png": ("cat.png", HTML, r"'cat\.png' is named as photo"),
    "0-byte file": ("empty.flac", b"", r"'empty\.flac' is empty \(0 bytes\)"),
    "truncated FLAC": ("cut.flac", None, r"'cut\.flac' is (damaged or truncated|truncated or damaged)"),
    "truncated MP4": ("cut.mp4", None, r"'cut\.mp4' is not a readable video"),
    "pixel bomb (400 megapixels)": ("bomb.png", bad.png_header(20000, 20000),
                                    r"'bomb\.png' declares an image far larger .*limit is 50 megapixels"),
    "60-megapixel image": ("huge.png", bad.png_header(7746, 7746),
                           r"'huge\.png' is too large: 7746x7746 pixels .*limit is 50 megapixels"),
    "zip bomb (.pptx)": ("bomb.pptx", bad.pptx_bomb(), r"'bomb\.pptx' looks like a zip bomb"),
    "zip-slip name (.pptx)": ("slip.pptx", bad.pptx_slip(), r"'slip\.pptx' contains an unsafe path \('\.\./\.\./evil"),
    "unknown binary": ("blob.bin", bytes(range(256)) * 4, r"'blob\.bin' is not a supported file"),
}


@pytest.mark.parametrize("case", list(UPLOADS))
def test_bad_upload_is_refused_and_stores_nothing(target, project_id, case, tmp_path):
    name, data, match = UPLOADS[case]
    if data is None:
        data = bad.truncated_flac() if name.endswith(".flac") else bad.truncated_mp4(tmp_path)
    target.refused(match, project_id=project_id, file=target.file(name, data), api_name="/upload_media")


@pytest.mark.parametrize("where", ["database", "system file", "upload folder, climbed out of"])
def test_a_server_path_is_not_an_upload(target, project_id, where):
    """A raw call naming a file on the server instead of uploading one (gradio_client would upload a
    local path itself, so the payload is sent by hand). Gradio refuses it before the endpoint runs; the
    endpoint's own check (tabs.common.uploaded_file) is the second line."""
    data = target.app.data_dir
    path = {"database": str(data / "studio.db"), "system file": "/etc/hostname",
            "upload folder, climbed out of": str(data / "cache" / ".." / "studio.db")}[where]
    forged = {"path": path, "orig_name": "notes.txt", "meta": {"_type": "gradio.FileData"}}
    message = target.refused_raw(r"server paths are not accepted|Cannot move .* to the gradio cache dir because it "
                                 r"(is located in one of the blocked_paths|was not uploaded by a user)",
                                 "/upload_media", json.dumps({"data": [project_id, forged]}))
    assert Path(path).name in message or "server paths" in message


# --------------------------------------------------------------------------- project zips

GOOD_PHOTO = {"file": "media/a.png", "data": bad.png(), "kind": "photo", "name": "portrait.png", "mime": "image/png"}


IMPORTS = {
    # What the manifest says is only a claim: each member goes through the same intake as an upload.
    "HTML declared a photo": (
        [{"file": "media/x.html", "data": HTML, "kind": "photo", "name": "cat.png", "mime": "image/png",
          "width": 10, "height": 10}],
        r"media/x\.html \('cat\.png' in its manifest\) was refused: .*declared a photo but its content is plain "
        r"text; photo files must be photos \(PNG, JPEG"),
    "text declared audio/flac": (
        [{"file": "media/x.flac", "data": b"plain text, no sound", "kind": "audio", "name": "voice.flac",
          "mime": "audio/flac", "duration_s": 3.0, "sample_rate": 16000}],
        r"media/x\.flac \('voice\.flac' in its manifest\) was refused: .*named as audio \(\.flac\) but its "
        r"content is plain text"),
    "400-megapixel PNG declared 10x10": (
        [GOOD_PHOTO, {"file": "media/big.png", "data": bad.png_header(20000, 20000), "kind": "photo",
                      "name": "small.png", "width": 10, "height": 10}],
        r"media/big\.png \('small\.png' in its manifest\) was refused: .*decompression bomb.*50 megapixels"),
    "60-megapixel PNG": (
        [GOOD_PHOTO, {"file": "media/big.png", "data": bad.png_header(7746, 7746), "kind": "photo",
                      "name": "big.png", "width": 10, "height": 10}],
        r"media/big\.png \('big\.png' in its manifest\) was refused: .*7746x7746 pixels \(60 megapixels\); "
        r"the limit is 50"),
    "photo declared audio": (
        [{"file": "media/a.flac", "data": bad.png(), "kind": "audio", "name": "song.flac"}],
        r"media/a\.flac .*named as audio \(\.flac\) but its content is a PNG image"),
    "text declared a generated NumPy archive": (
        [{"file": "media/t.npz", "data": b"import os", "kind": "other", "name": "speak-sentences.npz"}],
        r"media/t\.npz \('speak-sentences\.npz' in its manifest\) was refused: .*damaged zip archive"),
    "a script declared a generated file": (
        [{"file": "media/run.sh", "data": b"#!/bin/sh\nrm -rf /", "kind": "other", "name": "run.sh"}],
        r"media/run\.sh .*is none of the generated files \(MIDI \.mid, NumPy \.npz, Content Credentials sidecar "
        r"\.c2pa\)"),
    "a script named as a Content Credentials sidecar": (
        [{"file": "media/x.c2pa", "data": b"#!/bin/sh\nrm -rf /", "kind": "other", "name": "lyrics.txt.c2pa"}],
        r"media/x\.c2pa .*not a readable Content Credentials \(C2PA manifest store\) file"),
    "an unknown kind": (
        [{"file": "media/a.png", "data": bad.png(), "kind": "script", "name": "a.png"}],
        r"media/a\.png is declared of kind 'script'; kinds are text, photo, audio, video, pptx, other"),
    "a checksum that does not match": (
        [{**GOOD_PHOTO, "sha256": "0" * 64}], r"media/a\.png does not match its checksum"),
}


@pytest.mark.parametrize("case", list(IMPORTS))
def test_import_checks_every_member_like_an_upload(target, case):
    """Refused with the member named and what is allowed; a good member beside a bad one is not imported
    either (no project, no asset, no file)."""
    assets, match = IMPORTS[case]
    message = target.refused(match, file=target.file("project.zip", bad.project_zip(assets)),
                             api_name="/import_project")
    assert "'project.zip'" in message


def test_import_refuses_zip_slip_and_zip_bombs(target):
    slip = bad.project_zip([GOOD_PHOTO], extra={"../../evil.sh": b"echo pwned"})
    target.refused(r"'slip\.zip' contains an unsafe path \('\.\./\.\./evil\.sh'\)",
                   file=target.file("slip.zip", slip), api_name="/import_project")
    bomb = bad.project_zip([GOOD_PHOTO], extra={"media/zeros.txt": bytes(8 << 20)})
    target.refused(r"'bomb\.zip' looks like a zip bomb: media/zeros\.txt expands",
                   file=target.file("bomb.zip", bomb), api_name="/import_project")
    target.refused(r"'plain\.zip' is not a project export: it has no manifest\.json",
                   file=target.file("plain.zip", bad.zip_bytes({"a.txt": b"hello"})), api_name="/import_project")


def test_import_stores_what_the_members_are_not_what_the_manifest_says(target):
    """The manifest supplies names and metadata; kinds, sizes and durations come from the files."""
    zipped = bad.project_zip([
        {**GOOD_PHOTO, "width": 10, "height": 10, "meta": {"role": "poster"}},
        {"file": "media/v.flac", "data": bad.flac(1.0), "kind": "audio", "name": "voice.flac", "duration_s": 999,
         "sample_rate": 8000},
    ], name="Round trip")
    p = target.client.predict(file=target.file("good.zip", zipped), api_name="/import_project")
    assert p["name"] == "Round trip" and p["asset_count"] == 2
    photo, voice = target.client.predict(project_id=p["id"], api_name="/list_assets")
    assert (photo["name"], photo["width"], photo["height"], photo["meta"]["role"]) == ("portrait.png", 64, 48,
                                                                                        "poster")
    assert (voice["name"], voice["sample_rate"]) == ("voice.flac", 16000)
    assert voice["duration_s"] == pytest.approx(1.0, abs=0.01)


# --------------------------------------------------------------------------- file URLs


def test_file_urls_refuse_every_traversal(target):
    """/gradio_api/file= serves neither the data folder nor anything outside Gradio's own files."""
    data = target.app.data_dir.resolve()
    uploads = data / "cache"
    paths = ["/etc/passwd", "../../../../etc/passwd", "..%2f..%2f..%2f..%2fetc%2fpasswd",
             "%2e%2e/%2e%2e/%2e%2e/etc/passwd", str(data / "studio.db"), f"{data.name}/studio.db",
             f"{uploads}/../studio.db", f"{uploads}/%2e%2e/studio.db", "/proc/self/environ"]
    for path in paths:
        url = f"{target.app.url}gradio_api/file={path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                pytest.fail(f"{url} answered {r.status} with {r.read(32)!r}")
        except urllib.error.HTTPError as e:
            assert e.code in (403, 404), url
            body = e.read()
            assert b"root:" not in body and b"SQLite format" not in body, url


def test_file_urls_do_not_reach_the_data_folder_by_quoting(target):
    """The same through httpx, which sends the path exactly as written (no client-side normalising)."""
    db = urllib.parse.quote(str((target.app.data_dir / "studio.db").resolve()))
    with httpx.Client(base_url=target.app.url, timeout=10) as c:
        for path in (f"gradio_api/file={db}", "gradio_api/file=/./etc//passwd", "gradio_api/file=//etc/passwd"):
            r = c.get(path)
            assert r.status_code in (403, 404), path
            assert b"root:" not in r.content and b"SQLite format" not in r.content
