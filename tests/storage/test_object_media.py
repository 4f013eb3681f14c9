"""The media store on S3-compatible object storage, against a real S3 server on 127.0.0.1.

The server is moto's server mode (moto 5.2, Apache-2.0), started as its own process (`moto_server`) from
its own virtual environment (.venv-s3, tests/s3server-requirements.txt): it speaks the S3 REST protocol
over HTTP (signed requests, ListObjectsV2, multipart uploads, 404 NoSuchKey) the way the store's client
meets AWS or MinIO, starts in about a second and keeps nothing on disk. MinIO or Ceph would be closer to
production but come as Go binaries or system services that neither PyPI nor Debian ship here; moto
cannot go in-process because its botocore holds python-dateutil below 3 (the app has 4).
Checked here: content addressing, dedupe, atomic puts, removal, garbage collection with its grace time,
the bounded local cache (least recently used out, refetched when missing, checked against the hash).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from pathlib import Path

import pytest

from settings import Settings
from storage.object_media import ObjectMediaStore, s3_objects

_buckets = itertools.count()


@pytest.fixture
def s3_settings(s3_server, tmp_path: Path) -> Settings:
    bucket = s3_server.make_bucket(f"media-{os.getpid()}-{next(_buckets)}")
    return Settings(data_dir=tmp_path / "data", media_url=f"s3://{bucket}/studio", s3_endpoint_url=s3_server.url,
                    s3_region=s3_server.region, s3_access_key_id=s3_server.key,
                    s3_secret_access_key=s3_server.secret)


def make_store(settings: Settings, cache: str = "cache", **kw) -> ObjectMediaStore:
    kw.setdefault("cache_bytes", 1 << 30)
    return ObjectMediaStore(s3_objects(settings), settings.media_bucket[1], settings.data_dir / cache,
                            settings.data_dir / "scratch", **kw)


def new_file(store: ObjectMediaStore, data: bytes, name: str = "out.wav") -> Path:
    p = store.new_scratch_dir() / name
    p.write_bytes(data)
    return p


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_put_stores_by_content_and_stores_identical_content_once(s3_server, s3_settings):
    store = make_store(s3_settings)
    bucket, _ = s3_settings.media_bucket
    data = os.urandom(3000)
    src = new_file(store, data)
    assert store.put(src, ".wav") == (sha(data), 3000, True)
    assert not src.exists()  # consumed: it became the local copy
    key = f"studio/{sha(data)[:2]}/{sha(data)}.wav"
    assert s3_server.keys(bucket) == {key: (3000, hashlib.md5(data).hexdigest())}
    assert store.local_path(sha(data), ".wav").read_bytes() == data
    again = new_file(store, data, "again.wav")
    assert store.put(again, ".wav") == (sha(data), 3000, False) and not again.exists()
    assert store.stored() == {(sha(data), ".wav")} and store.usage_bytes() == 3000
    assert list(s3_server.keys(bucket)) == [key]


def test_a_missing_local_copy_is_fetched_again_and_other_nodes_read_the_same_bucket(s3_settings):
    store = make_store(s3_settings)
    data = os.urandom(5000)
    digest, _, _ = store.put(new_file(store, data), ".flac")
    path = store.local_path(digest, ".flac")
    path.unlink()
    assert store.local_path(digest, ".flac") == path and path.read_bytes() == data
    other = make_store(s3_settings, cache="other-node-cache")  # another machine: its own cache, same bucket
    got = other.local_path(digest, ".flac")
    assert got != path and got.read_bytes() == data
    assert not [p for p in got.parent.iterdir() if p.name.startswith(".")]  # no partial download left


def test_remove_deletes_the_object_and_its_copy(s3_server, s3_settings):
    store = make_store(s3_settings)
    data = b"x" * 100
    digest, _, _ = store.put(new_file(store, data), ".txt")
    copy = store.local_path(digest, ".txt")
    assert store.remove(digest, ".txt") is True
    assert not copy.exists() and s3_server.keys(s3_settings.media_bucket[0]) == {}
    assert store.remove(digest, ".txt") is False
    with pytest.raises(FileNotFoundError, match="not in s3://"):
        store.local_path(digest, ".txt")


def test_garbage_collection_spares_referenced_and_recent_objects(s3_server, s3_settings):
    bucket, _ = s3_settings.media_bucket
    patient = make_store(s3_settings)  # an hour's grace: another node may not have committed its row yet
    kept, _, _ = patient.put(new_file(patient, b"kept"), ".txt")
    orphan, _, _ = patient.put(new_file(patient, b"orphan"), ".txt")
    assert patient.collect_garbage({(kept, ".txt")}) == 0 and len(s3_server.keys(bucket)) == 2
    prompt = make_store(s3_settings, gc_grace_s=0)
    assert prompt.collect_garbage({(kept, ".txt")}) == 1
    assert prompt.stored() == {(kept, ".txt")}
    assert not prompt.cached_path(orphan, ".txt").exists() and prompt.cached_path(kept, ".txt").exists()


def test_objects_not_named_by_the_store_are_left_alone(s3_server, s3_settings):
    store = make_store(s3_settings, gc_grace_s=0)
    bucket, _ = s3_settings.media_bucket
    store.objects.put_bytes("studio/notes.txt", b"someone else's")
    store.objects.put_bytes(f"elsewhere/{'ab' * 32}.wav", b"outside the prefix")
    assert store.stored() == set() and store.usage_bytes() == 0
    assert store.collect_garbage(set()) == 0 and len(s3_server.keys(bucket)) == 2


def test_the_cache_evicts_the_least_recently_used_copies_and_refetches_them(s3_settings):
    store = make_store(s3_settings, cache_bytes=2500, keep_recent_s=0)
    blobs = [os.urandom(1000) for _ in range(3)]
    digests = []
    for i, data in enumerate(blobs[:2]):
        digests.append(store.put(new_file(store, data), ".wav")[0])
        os.utime(store.cached_path(digests[-1], ".wav"), (time.time() - 100 + i, time.time() - 100 + i))
    store.local_path(digests[0], ".wav")  # the first is used again: the second is now the least recent
    digests.append(store.put(new_file(store, blobs[2]), ".wav")[0])  # 3000 bytes > 2500
    present = [store.cached_path(d, ".wav").exists() for d in digests]
    assert present == [True, False, True] and store.cache_usage_bytes() == 2000
    assert store.local_path(digests[1], ".wav").read_bytes() == blobs[1]  # fetched again
    assert store.cache_usage_bytes() <= 2500


def test_copies_handed_out_recently_are_kept_beyond_the_limit(s3_settings):
    store = make_store(s3_settings, cache_bytes=1500, keep_recent_s=600)
    digests = [store.put(new_file(store, os.urandom(1000)), ".wav")[0] for _ in range(2)]
    assert all(store.cached_path(d, ".wav").exists() for d in digests)  # a job may be about to read either


def test_a_changed_object_is_refused(s3_settings):
    store = make_store(s3_settings)
    digest, _, _ = store.put(new_file(store, b"original"), ".txt")
    store.cached_path(digest, ".txt").unlink()
    store.objects.put_bytes(store.key_for(digest, ".txt"), b"tampered")
    with pytest.raises(OSError, match="does not match its hash"):
        store.local_path(digest, ".txt")
    assert not store.cached_path(digest, ".txt").exists()


def test_a_bucket_that_does_not_exist_stops_the_start_with_what_to_check(s3_server, tmp_path):
    settings = Settings(data_dir=tmp_path, media_url="s3://no-such-bucket", s3_endpoint_url=s3_server.url,
                        s3_region="us-east-1", s3_access_key_id="k", s3_secret_access_key="s")
    with pytest.raises(SystemExit, match="s3://no-such-bucket: the bucket cannot be listed.*S3_ENDPOINT_URL"):
        make_store(settings)


def test_the_library_stores_and_reads_assets_in_the_bucket(s3_server, s3_settings, samples):
    from services import build_services

    svc = build_services(s3_settings)
    try:
        lib = svc.library
        flac = sorted((samples / "voices" / "librispeech-1998").glob("*.flac"))[0]
        project = lib.create_project("S3")
        copy = lib.store.new_scratch_dir() / flac.name
        copy.write_bytes(flac.read_bytes())
        asset = lib.add_upload(project.id, copy, flac.name)
        assert lib.store.stored() == {(asset.sha256, asset.ext)}
        assert not (s3_settings.data_dir / "media").exists()  # nothing stored on local disk but the cache
        lib.store.cached_path(asset.sha256, asset.ext).unlink()
        path = lib.asset_path(asset)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == asset.sha256
        lib.delete_asset(asset.id)
        assert lib.store.stored() == set() and s3_server.keys(s3_settings.media_bucket[0]) == {}
    finally:
        svc.library.engine.dispose()
