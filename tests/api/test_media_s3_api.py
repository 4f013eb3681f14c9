"""The running app with its media in an S3 bucket (MEDIA_URL): a job's outputs go to the bucket, and are
served back from it once the local cache is gone.

The S3 server is moto's server mode on 127.0.0.1 (tests/storage/test_object_media.py says why).
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.conftest import AppProcess, free_port


@pytest.fixture(scope="module")
def s3_app(s3_server, tmp_path_factory):
    bucket = s3_server.make_bucket("studio-api-media")
    data_dir = tmp_path_factory.mktemp("s3app") / "data"
    app = AppProcess(data_dir, free_port(), env={
        "MEDIA_URL": f"s3://{bucket}/media", "S3_ENDPOINT_URL": s3_server.url, "AWS_REGION": s3_server.region,
        "AWS_ACCESS_KEY_ID": s3_server.key, "AWS_SECRET_ACCESS_KEY": s3_server.secret})
    yield app, bucket
    app.stop()


def test_speech_is_stored_in_the_bucket_and_served_from_it(s3_app, s3_server, tmp_path):
    from gradio_client import Client

    app, bucket = s3_app
    client = Client(app.url, verbose=False, download_files=str(tmp_path / "downloads"))
    project = client.predict(name="In the bucket", api_name="/create_project")
    speech = Path(client.predict(text="Stored in object storage, served back from it.", project_id=project["id"],
                                 api_name="/speak"))
    data = speech.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    objects = s3_server.keys(bucket, "media/")
    assert objects[f"media/{digest[:2]}/{digest}.wav"] == (len(data), hashlib.md5(data).hexdigest())
    assert not (app.data_dir / "media").exists()  # nothing stored on the app's disk but the cache

    shutil.rmtree(app.data_dir / "media-cache")  # the local copies are gone: the bucket must serve them
    exported = Path(client.predict(project_id=project["id"], api_name="/export_project"))
    with zipfile.ZipFile(exported) as zf:
        assert zf.read(f"media/{digest}.wav") == data
    assert (app.data_dir / "media-cache" / digest[:2] / f"{digest}.wav").read_bytes() == data  # fetched again
